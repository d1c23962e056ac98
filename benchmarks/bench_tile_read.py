"""Benchmark: block reads (``Slide.read_tiles``) against one tiffslide read per tile, at level-0 resolution.

Writes a JPEG-compressed tiled pyramid BigTIFF (CAMELYON / ASAP layout) in a temporary folder, then reads
every tile of a non-overlapping grid over the whole slide both ways and prints tiles/s and their ratio.

    python benchmarks/bench_tile_read.py --size 8192 --tile 256 --block 4 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from wsiseg.slide import open_slide, tile_grid
from wsiseg.slide.tiffslide_backend import TiffSlideBackend
from wsiseg.slide.writer import TiffOptions, write_pyramid_tiff_from_array

MPP = 0.243


def write_slide(path: Path, size: int) -> None:
    """A tissue-like texture (smooth blobs plus noise) as a JPEG pyramid of 256-px tiles (the package's writer)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(60, 250, size=(size // 64, size // 64, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)  # (H, W, 3)
    image = cv2.add(image, rng.integers(0, 30, size=image.shape, dtype=np.uint8))
    write_pyramid_tiff_from_array(path, image, MPP, TiffOptions(tile=256, quality=90))


def best_time(run: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Best wall time of ``repeats`` runs and the tile count of the last one."""
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8192, help="level-0 pixels per side")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels")
    parser.add_argument("--block", type=int, default=4, help="tiles per block side for read_tiles")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    tile_wh = (args.tile, args.tile)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.tif"
        start = time.perf_counter()
        write_slide(path, args.size)
        print(f"wrote {args.size}x{args.size} JPEG pyramid in {time.perf_counter() - start:.1f} s")
        origins = tile_grid((args.size, args.size), tile_wh, tile_wh)  # (N, 2)
        with open_slide(path) as slide:

            def blocks() -> int:
                return sum(1 for _ in slide.read_tiles(origins, tile_wh, slide.mpp, block_tiles=args.block))

            block_s, n_tiles = best_time(blocks, args.repeats)
        backend = TiffSlideBackend(path)

        def singles() -> int:
            return sum(1 for x, y in origins if backend.read_region((int(x), int(y)), 0, tile_wh) is not None)

        single_s, _ = best_time(singles, args.repeats)
        backend.close()
    block_rate, single_rate = n_tiles / block_s, n_tiles / single_s
    print(f"{n_tiles} tiles of {args.tile} px, level 0, best of {args.repeats}")
    print(f"(a) Slide.read_tiles, blocks of {args.block}x{args.block}: {block_rate:9.1f} tiles/s")
    print(f"(b) one tiffslide read_region per tile:  {single_rate:9.1f} tiles/s")
    print(f"ratio (a)/(b): {block_rate / single_rate:.2f}")


if __name__ == "__main__":
    main()
