"""What the game server and the training pipeline share, and nothing else.

``core.sketch`` turns strokes into the model's input (the one sketch pipeline);
``core.records`` reads and writes the Quick, Draw! record formats and drawing
ids; ``core.model`` is the model-directory contract and the synchronous LiteRT
classifier. Nothing here imports the web stack or TensorFlow (checked by
import-linter, see pyproject.toml).
"""
