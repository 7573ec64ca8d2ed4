"""Label Studio's brush RLE: a mask as the run-length code Label Studio stores for a brush region.

The code is thi.ng's `rle-pack` over the region's RGBA pixels flattened row by row (4 values per
pixel): a 32-bit value count, the word size minus one in 5 bits, four run-length field sizes minus
one in 4 bits each, then records of 1 bit (1 = a run of one value, 0 = that many literal values),
2 bits (which run-length field size), the run length minus one in that many bits, and the value(s)
in word-size bits. Bits are packed most significant first into a list of byte values.

The encoder writes runs only (a valid subset of the format); the decoder reads runs and literals,
which is what Label Studio's editor writes. `label_studio_sdk` has a codec too, but its pins
(numpy < 2.3, OpenCV < 4.13) conflict with this project's, so the format is implemented here and
checked against Label Studio itself (tests/test_annotate_labelstudio.py).
"""
from __future__ import annotations

import numpy as np

WORD_BITS = 8
RUN_FIELD_BITS = (3, 4, 8, 16)  # the four run-length field sizes this encoder declares
_LONGEST = 1 << RUN_FIELD_BITS[-1]


class RLEError(ValueError):
    """A brush RLE that cannot be decoded to the declared image size."""


def _bits(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The bits of each value in its width, most significant first, concatenated."""
    widths = widths.astype(np.int64)
    field = np.repeat(np.arange(len(values)), widths)
    starts = np.cumsum(widths) - widths
    k = np.arange(int(widths.sum())) - np.repeat(starts, widths)
    return ((values[field].astype(np.int64) >> (widths[field] - 1 - k)) & 1).astype(np.uint8)


def encode_mask(mask: np.ndarray) -> list[int]:
    """The brush RLE of a boolean HxW mask: RGBA (255, 255, 255, 255) where set, 0 elsewhere."""
    flat = np.repeat(np.asarray(mask, dtype=bool).ravel().astype(np.uint8) * 255, 4)
    n = flat.size
    if n == 0:
        raise ValueError("cannot encode an empty (0-pixel) mask as a brush region")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [n]]))
    values = flat[starts]
    # runs longer than the longest field split into full pieces plus the rest
    pieces = (lengths + _LONGEST - 1) // _LONGEST
    run = np.repeat(np.arange(len(lengths)), pieces)
    first = np.cumsum(pieces) - pieces
    k = np.arange(len(run)) - np.repeat(first, pieces)
    length = np.minimum(lengths[run] - k * _LONGEST, _LONGEST)
    value = values[run]
    size_index = np.searchsorted(np.array([1 << b for b in RUN_FIELD_BITS]), length)
    size_bits = np.asarray(RUN_FIELD_BITS)[size_index]
    records = np.stack([np.ones_like(length), size_index, length - 1, value], 1).ravel()
    widths = np.stack([np.ones_like(length), np.full_like(length, 2), size_bits,
                       np.full_like(length, WORD_BITS)], 1).ravel()
    header = np.array([n, WORD_BITS - 1, *(b - 1 for b in RUN_FIELD_BITS)], dtype=np.int64)
    header_widths = np.array([32, 5, 4, 4, 4, 4])
    bits = np.concatenate([_bits(header, header_widths), _bits(records, widths)])
    return np.packbits(bits).tolist()


def decode_mask(rle, height: int, width: int, threshold: int = 128) -> np.ndarray:
    """The boolean HxW mask of a brush RLE: pixels whose alpha is at least `threshold` (the
    editor's anti-aliased stroke edges have partial alpha). RLEError when the code is damaged
    or holds another number of values than height x width x 4."""
    try:
        raw = np.asarray(rle, dtype=np.int64)
        if raw.ndim != 1 or raw.size < 7 or raw.min() < 0 or raw.max() > 255:
            raise RLEError("not a list of byte values")
        s = (np.unpackbits(raw.astype(np.uint8)) + 48).tobytes().decode()
        pos = 0

        def read(n: int) -> int:
            nonlocal pos
            if pos + n > len(s):
                raise RLEError("the code ends in the middle of a record")
            v = int(s[pos:pos + n], 2)
            pos += n
            return v

        num = read(32)
        word = read(5) + 1
        sizes = [read(4) + 1 for _ in range(4)]
        if num != height * width * 4:
            raise RLEError(f"it holds {num} values, not {height}x{width}x4 = {height * width * 4} "
                           "(a brush of an image of another size)")
        out = np.zeros(num, dtype=np.uint8)
        i = 0
        while i < num:
            repeat = read(1)
            j = i + 1 + read(sizes[read(2)])
            if j > num:
                raise RLEError("a run goes past the image's end")
            if repeat:
                out[i:j] = read(word)
            else:
                out[i:j] = [read(word) for _ in range(j - i)]
            i = j
    except RLEError:
        raise
    except (TypeError, ValueError) as e:
        raise RLEError(f"not a brush RLE ({e})") from None
    return out.reshape(height, width, 4)[:, :, 3] >= threshold
