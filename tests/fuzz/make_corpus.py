#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz: tests/fuzz/corpus/<target>/.

Why: libFuzzer gets much further from inputs that already pass the parsers' first
checks than from nothing. The seeds are small, each is one thing the parser must
handle (or refuse cleanly), and they are generated here, not copied from anywhere, so
they can be remade and reviewed:

  fuzz_annotations   lines in the style of MTFL's training.txt and testing.txt (CRLF,
                     backslash paths, a leading space, a trailing blank) and some
                     malformed ones
  fuzz_image         PNGs of every colour type, bit depth, filter and interlacing
                     (written here with zlib), baseline JPEGs written by the project's
                     own writer (stb_image_write through mtfl-lua, when given), and one
                     BMP and one GIF, formats the build must refuse
  fuzz_safetensors   valid safetensors files: metadata, empty tensors, a 0-d tensor,
                     escapes in names, a padded header, a file with no tensors

  python3 tests/fuzz/make_corpus.py [--mtfl-lua build/mtfl-lua]

Only Python's standard library is needed; without --mtfl-lua the JPEGs are left as
they are. Give it a build without MTFL_SANITIZE: stb_image_write's JPEG encoder
shifts a bit into the sign of an int, which UBSan (-fno-sanitize-recover) stops on.
"""
import argparse
import json
import os
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- annotations --------------------------------------------------------------------

def face(path, points, labels):
    return path + " " + " ".join("%.6f" % p for p in points) + " " + " ".join(map(str, labels))


TRAIN = [
    face("lfw_5590\\Abel_Pacheco_0001.jpg",
         [106.25, 146.75, 127.75, 107.25, 141.25, 109.75, 112.25, 139.75, 157.25, 160.75], [1, 2, 2, 3]),
    face("lfw_5590\\Adam_Sandler_0002.jpg",
         [104.75, 145.25, 121.75, 104.25, 143.75, 113.25, 110.75, 136.25, 158.75, 157.25], [1, 1, 2, 2]),
    face("net_7876\\0_0_1047.jpg",
         [40.500000, 75.250000, 58.750000, 44.000000, 71.500000, 52.250000, 50.750000, 70.000000, 84.500000, 83.250000], [2, 1, 1, 4]),
]
TEST = [
    face("AFLW/0007-image11320.jpg",
         [52.3, 93.8, 74.1, 55.6, 91.2, 48.9, 46.0, 71.7, 92.4, 90.1], [2, 1, 2, 3]),
    face("AFLW/0012-image30517.jpg",
         [39.0, 81.5, 52.25, 42.75, 77.0, 60.5, 58.0, 79.25, 99.5, 97.0], [1, 2, 2, 1]),
    face("AFLW/0019-image02261.jpg",
         [61.0, 103.0, 90.5, 66.0, 99.0, 45.5, 47.0, 72.0, 95.5, 96.5], [1, 1, 2, 5]),
]


def annotations():
    t = "fuzz_annotations"
    # as distributed: no space before the first line, one before every other, CRLF,
    # and a lone space after the last line break
    write(t, "training.txt", ("\r\n ".join(TRAIN) + "\r\n ").encode())
    write(t, "testing.txt", ("\r\n ".join(TEST) + "\r\n").encode())
    # edited by hand: a BOM, LF only, tabs, blank lines, no final newline
    write(t, "edited.txt", ("\ufeff" + TEST[0].replace(" ", "\t", 3) + "\n\n\n  \n" +
                            TRAIN[1] + "\n" + TEST[2]).encode("utf-8"))
    write(t, "one_line.txt", TRAIN[2].encode())
    fields = TEST[1].split(" ")
    bad = [
        " ".join(fields[:-1]),                                # 14 fields
        " ".join(fields + ["7"]),                             # 16 fields
        " ".join(fields[:3] + ["12.5px"] + fields[4:]),       # not a number
        " ".join(fields[:3] + ["nan"] + fields[4:]),          # not finite
        " ".join(fields[:3] + ["1e999"] + fields[4:]),        # out of range
        " ".join(fields[:3] + ["0x1p4"] + fields[4:]),        # hex float
        " ".join(fields[:3] + ["1" * 70] + fields[4:]),       # a field too long to copy
        " ".join(fields[:11] + ["0"] + fields[12:]),          # gender 0
        " ".join(fields[:11] + ["3"] + fields[12:]),          # gender 3
        " ".join(fields[:14] + ["6"]),                        # pose 6
        " ".join(fields[:14] + ["-2147483649"]),              # a label out of long's range?
        " ".join(fields[:14] + ["99999999999999999999"]),     # ... and past it
        " ".join(fields[:14] + ["2.0"]),                      # a float label
        " ".join(["..\\lfw_5590\\..\\..\\secret.jpg"] + fields[1:]),  # leaves the data folder
        " ".join(["/etc/faces/0001.jpg"] + fields[1:]),        # absolute
    ]
    write(t, "malformed.txt", ("\r\n ".join(bad) + "\r\n").encode())
    # a NUL in a path and in a number, and a stray CR alone
    write(t, "nul.txt", (TRAIN[0].replace(".jpg", "\0.jpg") + "\r\n" +
                         TEST[0].replace("52.3", "52\0.3") + "\r\r\n").encode())


# ---- images -------------------------------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, bit_depth, colour, rows, extra=b"", interlace=0, split_idat=False):
    """rows: the filtered scanlines, each starting with its filter byte."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, interlace)
    z = zlib.compress(b"".join(rows), 9)
    idat = png_chunk(b"IDAT", z)
    if split_idat:
        idat = png_chunk(b"IDAT", z[:len(z) // 2]) + png_chunk(b"IDAT", z[len(z) // 2:])
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + idat +
            png_chunk(b"IEND", b""))


def pixel_rows(width, height, channels, filt=0, depth=8):
    rows = []
    for y in range(height):
        line = bytearray()
        for x in range(width):
            for c in range(channels):
                v = (x * 53 + y * 97 + c * 31) & 0xFF
                line += bytes([v, v ^ 0x5A]) if depth == 16 else bytes([v])
        f = filt if filt >= 0 else y % 5
        rows.append(bytes([f]) + bytes(line))   # raw bytes under a filter: any byte is valid
    return rows


def adam7_rows(width, height, channels):
    """The seven passes of an interlaced image, each row with filter 0."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, width, dx), range(y0, height, dy)
        if not xs or not ys:
            continue
        for y in ys:
            rows.append(b"\0" + bytes(((x * 40 + y * 20 + c * 70) & 0xFF) for x in xs for c in range(channels)))
    return rows


def bmp_2x2():
    pixels = b"\x00\x00\xff\xff\xff\xff\x00\x00" + b"\xff\x00\x00\x00\xff\x00\x00\x00"  # rows padded to 4 bytes
    header = struct.pack("<2sIHHI", b"BM", 14 + 40 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def gif_2x2():
    # 4 colours, LZW minimum code size 2: clear (4), the four indices, end (5), packed
    # least significant bit first, 3 bits wide until the table reaches 8 entries
    codes, widths, bits, nbits = [4, 0, 1, 2, 3, 5], [3, 3, 3, 3, 4, 4], 0, 0
    for c, w in zip(codes, widths):
        bits |= c << nbits
        nbits += w
    data = bits.to_bytes((nbits + 7) // 8, "little")
    palette = b"\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\xff"
    return (b"GIF89a" + struct.pack("<HHBBB", 2, 2, 0xF1, 0, 0) + palette +
            b"," + struct.pack("<HHHHB", 0, 0, 2, 2, 0) + b"\x02" + bytes([len(data)]) + data +
            b"\x00;")


JPEG_SCRIPT = r"""
local out = ...
local data = require "mtfl.data"
local function face(w, h)
  local img = data.image(w, h, {200, 170, 140})
  img:rect(1, 1, w // 2, h // 3, {20, 40, 220})
  img:mark(w * 0.3, h * 0.4, {radius = 1.5, color = {0, 0, 0}})
  img:mark(w * 0.7, h * 0.4, {radius = 1.5, color = {0, 0, 0}})
  return img
end
face(8, 8):save(out .. "/baseline_8x8_q95.jpg", {quality = 95})      -- 4:4:4
face(17, 13):save(out .. "/baseline_17x13_q50.jpg", {quality = 50})  -- 4:2:0, partial blocks
face(16, 16):save(out .. "/gray_16x16.jpg", {quality = 80, gray = true})
face(24, 24):save(out .. "/written_24x24.png")                        -- stb's PNG writer
"""


def images(mtfl_lua):
    t = "fuzz_image"
    write(t, "rgb8_3x2.png", png(3, 2, 8, 2, pixel_rows(3, 2, 3)))
    write(t, "rgba8_filters_5x5.png", png(5, 5, 8, 6, pixel_rows(5, 5, 4, filt=-1)))
    write(t, "gray8_4x3.png", png(4, 3, 8, 0, pixel_rows(4, 3, 1, filt=-1)))
    write(t, "gray1_9x2.png", png(9, 2, 1, 0, [b"\0\xa5\x80", b"\0\x5a\x00"]))
    write(t, "gray_alpha8_3x3.png", png(3, 3, 8, 4, pixel_rows(3, 3, 2, filt=4)))
    plte = png_chunk(b"PLTE", b"\x00\x00\x00\xff\x00\x00\x00\xff\x00\x00\x00\xff")
    trns = png_chunk(b"tRNS", b"\x00\x80")
    write(t, "palette2_trns_6x2.png", png(6, 2, 2, 3, [b"\0\x1b\x60", b"\0\xe4\x30"], extra=plte + trns))
    write(t, "rgb16_2x2.png", png(2, 2, 16, 2, pixel_rows(2, 2, 3, depth=16)))
    write(t, "rgb8_adam7_9x9.png", png(9, 9, 8, 2, adam7_rows(9, 9, 3), interlace=1))
    write(t, "rgb8_split_idat_8x4.png", png(8, 4, 8, 2, pixel_rows(8, 4, 3, filt=2), split_idat=True,
                                            extra=png_chunk(b"tEXt", b"Comment\0fuzz seed")))
    write(t, "refused.bmp", bmp_2x2())
    write(t, "refused.gif", gif_2x2())
    if mtfl_lua:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(JPEG_SCRIPT)
        try:
            subprocess.run([mtfl_lua, f.name, os.path.join(CORPUS, t)], check=True,
                           env=dict(os.environ, OCL_ICD_VENDORS="/nonexistent", MTFL_DEVICE="cpu"))
        finally:
            os.unlink(f.name)


# ---- safetensors --------------------------------------------------------------------

def safetensors(tensors, metadata=None, pad_to=8, header_text=None):
    """tensors: [(name, shape, [floats])] in data order."""
    header, data = {}, b""
    for name, shape, values in tensors:
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = header_text if header_text is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode()
    text += b" " * ((-len(text)) % pad_to)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    t = "fuzz_safetensors"
    write(t, "one_2x3.safetensors", safetensors([("weight", [2, 3], [0.5, -1.0, 2.0, 3.25, 0.0, -0.0])]))
    write(t, "metadata.safetensors", safetensors(
        [("conv1.bias", [4], [0.1, 0.2, 0.3, 0.4]), ("conv1.weight", [4, 1, 1, 1], [1, 2, 3, 4])],
        metadata={"format": "pt", "epoch": "12", "note": "seed corpus"}))
    write(t, "empty_tensors.safetensors", safetensors(
        [("none", [0], []), ("rows", [3, 0], []), ("x", [2], [7.0, 8.0]), ("tail", [0, 5], [])]))
    write(t, "scalar_0d.safetensors", safetensors([("step", [], [42.0])], metadata={}))
    write(t, "no_tensors.safetensors", safetensors([], metadata={"only": "metadata"}))
    write(t, "empty_header.safetensors", safetensors([], header_text="{}"))
    # escapes in names and metadata, keys in another order, spaces and a wide padding
    text = ('{ "__metadata__" : {"caf\\u00e9": "\\"quoted\\"\\n\\t\\/", "emoji": "\\ud83d\\ude00"},\n'
            '  "b\\u0000name": {"data_offsets": [0, 8], "shape": [1, 2], "dtype": "F32"} }')
    write(t, "escapes.safetensors", safetensors([("ignored", [1, 2], [float("inf"), float("nan")])],
                                                header_text=text, pad_to=64))
    values = [((i * 37) % 101) / 7.0 for i in range(24)]
    write(t, "four_dims.safetensors", safetensors([("k", [1, 2, 3, 4], values)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mtfl-lua", help="an mtfl-lua binary, to write the JPEG seeds with the project's writer")
    args = ap.parse_args()
    annotations()
    images(args.mtfl_lua)
    safetensors_corpus()


if __name__ == "__main__":
    main()
