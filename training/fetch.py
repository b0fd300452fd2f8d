"""Download categories from the public Quick, Draw! bucket, resuming partial files.

``<out>/<format>/<category>.<ext>`` is written through ``<name>.part``, renamed
only when complete; a rerun continues a ``.part`` with an HTTP Range request.
"""

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full"
FORMATS = {"numpy_bitmap": ".npy", "simplified": ".ndjson", "raw": ".ndjson"}
CHUNK = 1 << 16
TIMEOUT_S = 30


class FetchError(RuntimeError):
    """A download failed; the message says which URL and why, in one line."""


def url_for(base_url: str, fmt: str, category: str) -> str:
    """The bucket URL of one category file (spaces and the like are quoted)."""
    return f"{base_url.rstrip('/')}/{fmt}/{urllib.parse.quote(category)}{FORMATS[fmt]}"


def download(url: str, target: Path, progress: bool = True) -> Path:
    """Fetch ``url`` into ``target``, resuming from ``target.part`` if one exists.

    Raises:
        FetchError: HTTP error (e.g. 404), no connection, or a short read.
    """
    target = Path(target)
    if target.exists():
        return target
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if have and response.status != 206:  # the server ignored Range: start over
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with (
                open(part, "ab" if have else "wb") as sink,
                tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=target.name, disable=not progress
                ) as bar,
            ):
                while chunk := response.read(CHUNK):
                    sink.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to fetch: the .part is complete
            part.replace(target)
            return target
        raise FetchError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"{url}: cannot download ({reason}); are you offline? rerun to resume") from error
    if total is not None and part.stat().st_size != total:
        raise FetchError(f"{url}: got {part.stat().st_size} of {total} bytes; rerun to resume")
    part.replace(target)
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--categories",
        nargs="+",
        required=True,
        metavar="NAME",
        help='category names as in the dataset, e.g. banana "house plant"',
    )
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        nargs="+",
        default=["numpy_bitmap"],
        help="which files to fetch (default: numpy_bitmap)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data"),
        help="download directory; files go to OUT/FORMAT/NAME.EXT (default: data)",
    )
    parser.add_argument("--base-url", default=BASE_URL, help=f"bucket URL (default: {BASE_URL})")


def run(args: argparse.Namespace) -> int:
    """Fetch every requested file; stop at the first failure with a one-line error."""
    for fmt in args.format:
        for category in args.categories:
            target = args.out / fmt / f"{category}{FORMATS[fmt]}"
            try:
                download(url_for(args.base_url, fmt, category), target)
            except FetchError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(target)
    return 0
