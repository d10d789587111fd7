"""Generated media files: JPEG images with a label, and a tiny valid MP4 video."""

from __future__ import annotations

import colorsys
import io
import struct
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["IMAGE_SIZE", "render_image", "render_video"]

IMAGE_SIZE = 320

_VIDEO_SIZE = 64
_VIDEO_FRAMES = 5
_VIDEO_FRAME_MS = 200


def _color(seed: int, lightness: float = 0.45) -> tuple[int, int, int]:
    """Return an RGB color spread around the hue circle by `seed`."""
    hue = (seed * 0.61803398875) % 1.0
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.6)
    return round(red * 255), round(green * 255), round(blue * 255)


@lru_cache(maxsize=512)
def render_image(label: str, seed: int, *, caption: str = "", play_icon: bool = False) -> bytes:
    """Render a square JPEG with `label` in large type on a color picked by `seed`."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), _color(seed))
    draw = ImageDraw.Draw(image)
    center = IMAGE_SIZE / 2

    if play_icon:
        # A lighter play triangle marks video thumbnails.
        draw.polygon(
            [(center - 50, center - 60), (center - 50, center + 60), (center + 60, center)],
            fill=_color(seed, lightness=0.7),
        )
    draw.text((center, center), label, fill="white", font=ImageFont.load_default(96), anchor="mm")
    if caption:
        small = ImageFont.load_default(20)
        draw.text((center, IMAGE_SIZE - 24), caption, fill="white", font=small, anchor="mm")

    output = io.BytesIO()
    image.save(output, format="JPEG", quality=80)
    return output.getvalue()


@lru_cache(maxsize=64)
def render_video(seed: int) -> bytes:
    """Build a one-second 64x64 H.264 MP4 of five frames, each in a different color."""
    frames = [
        _encode_idr_frame(_color(seed + index, lightness=0.3 + 0.1 * index), index)
        for index in range(_VIDEO_FRAMES)
    ]
    return _mp4_file(_SPS, _PPS, frames)


# Pillow cannot encode video and ffmpeg is not a dependency, so the H.264 stream is written by
# hand. Every macroblock is I_PCM (raw samples), which needs no transform or entropy coding.


class _BitWriter:
    """Big-endian bit writer with the Exp-Golomb codes of H.264."""

    def __init__(self) -> None:
        self._bits: list[int] = []

    def bits(self, value: int, count: int) -> None:
        for shift in range(count - 1, -1, -1):
            self._bits.append((value >> shift) & 1)

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.bits(0, length - 1)
        self.bits(code, length)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self._bits) % 8:
            self._bits.append(0)

    def trailing(self) -> None:
        self._bits.append(1)
        self.align_zero()

    def raw_bytes(self, data: bytes) -> None:
        for byte in data:
            self.bits(byte, 8)

    def to_bytes(self) -> bytes:
        if len(self._bits) % 8:
            raise ValueError("bit stream is not byte aligned")
        output = bytearray()
        for start in range(0, len(self._bits), 8):
            byte = 0
            for bit in self._bits[start : start + 8]:
                byte = (byte << 1) | bit
            output.append(byte)
        return bytes(output)


def _nal_unit(header: int, rbsp: bytes) -> bytes:
    """Wrap an RBSP in a NAL unit, inserting emulation prevention bytes."""
    output = bytearray([header])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            output.append(3)
            zeros = 0
        output.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(output)


_PROFILE_BASELINE = 66
_CONSTRAINT_FLAGS = 0xC0  # constrained baseline
_LEVEL = 30
_MACROBLOCKS_PER_ROW = _VIDEO_SIZE // 16


def _sequence_parameter_set() -> bytes:
    writer = _BitWriter()
    writer.bits(_PROFILE_BASELINE, 8)
    writer.bits(_CONSTRAINT_FLAGS, 8)
    writer.bits(_LEVEL, 8)
    writer.ue(0)  # seq_parameter_set_id
    writer.ue(0)  # log2_max_frame_num_minus4
    writer.ue(2)  # pic_order_cnt_type: output order follows decoding order
    writer.ue(1)  # max_num_ref_frames
    writer.bits(0, 1)  # gaps_in_frame_num_value_allowed_flag
    writer.ue(_MACROBLOCKS_PER_ROW - 1)  # pic_width_in_mbs_minus1
    writer.ue(_MACROBLOCKS_PER_ROW - 1)  # pic_height_in_map_units_minus1
    writer.bits(1, 1)  # frame_mbs_only_flag
    writer.bits(1, 1)  # direct_8x8_inference_flag
    writer.bits(0, 1)  # frame_cropping_flag
    writer.bits(0, 1)  # vui_parameters_present_flag
    writer.trailing()
    return _nal_unit(0x67, writer.to_bytes())


def _picture_parameter_set() -> bytes:
    writer = _BitWriter()
    writer.ue(0)  # pic_parameter_set_id
    writer.ue(0)  # seq_parameter_set_id
    writer.bits(0, 1)  # entropy_coding_mode_flag: CAVLC
    writer.bits(0, 1)  # bottom_field_pic_order_in_frame_present_flag
    writer.ue(0)  # num_slice_groups_minus1
    writer.ue(0)  # num_ref_idx_l0_default_active_minus1
    writer.ue(0)  # num_ref_idx_l1_default_active_minus1
    writer.bits(0, 1)  # weighted_pred_flag
    writer.bits(0, 2)  # weighted_bipred_idc
    writer.se(0)  # pic_init_qp_minus26
    writer.se(0)  # pic_init_qs_minus26
    writer.se(0)  # chroma_qp_index_offset
    writer.bits(0, 1)  # deblocking_filter_control_present_flag
    writer.bits(0, 1)  # constrained_intra_pred_flag
    writer.bits(0, 1)  # redundant_pic_cnt_present_flag
    writer.trailing()
    return _nal_unit(0x68, writer.to_bytes())


_SPS = _sequence_parameter_set()
_PPS = _picture_parameter_set()
_I_PCM = 25


def _rgb_to_ycbcr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Convert to BT.601 limited-range samples, which also keeps every sample above zero."""
    red, green, blue = rgb
    luma = 16 + (65.738 * red + 129.057 * green + 25.064 * blue) / 256
    blue_difference = 128 + (-37.945 * red - 74.494 * green + 112.439 * blue) / 256
    red_difference = 128 + (112.439 * red - 94.154 * green - 18.285 * blue) / 256
    return round(luma), round(blue_difference), round(red_difference)


def _encode_idr_frame(rgb: tuple[int, int, int], idr_pic_id: int) -> bytes:
    """Encode one IDR picture of a single color as one slice of I_PCM macroblocks."""
    luma, blue_difference, red_difference = _rgb_to_ycbcr(rgb)
    writer = _BitWriter()
    writer.ue(0)  # first_mb_in_slice
    writer.ue(7)  # slice_type: I, and every slice of the picture is I
    writer.ue(0)  # pic_parameter_set_id
    writer.bits(0, 4)  # frame_num, 0 for IDR pictures
    writer.ue(idr_pic_id % 65536)
    writer.bits(0, 1)  # no_output_of_prior_pics_flag
    writer.bits(0, 1)  # long_term_reference_flag
    writer.se(0)  # slice_qp_delta

    macroblock_samples = bytes([luma]) * 256 + bytes([blue_difference]) * 64
    macroblock_samples += bytes([red_difference]) * 64
    for row in range(_MACROBLOCKS_PER_ROW):
        for column in range(_MACROBLOCKS_PER_ROW):
            writer.ue(_I_PCM)
            writer.align_zero()  # pcm_alignment_zero_bit
            if (row + column) % 2:
                # A checkerboard of slightly lighter macroblocks makes the frames visible.
                writer.raw_bytes(bytes([min(luma + 24, 235)]) * 256 + macroblock_samples[256:])
            else:
                writer.raw_bytes(macroblock_samples)
    writer.trailing()
    return _nal_unit(0x65, writer.to_bytes())


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _mp4_file(sps: bytes, pps: bytes, frames: list[bytes]) -> bytes:
    """Pack length-prefixed frames into an MP4 with the index (moov) before the data."""
    samples = [struct.pack(">I", len(frame)) + frame for frame in frames]
    duration = _VIDEO_FRAME_MS * len(frames)
    file_type = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")

    def movie(chunk_offset: int) -> bytes:
        avc_config = _box(
            b"avcC",
            bytes([1, _PROFILE_BASELINE, _CONSTRAINT_FLAGS, _LEVEL, 0xFF, 0xE1]),
            struct.pack(">H", len(sps)),
            sps,
            bytes([1]),
            struct.pack(">H", len(pps)),
            pps,
        )
        sample_entry = _box(
            b"avc1",
            bytes(6),
            struct.pack(">H", 1),  # data_reference_index
            bytes(16),
            struct.pack(">HH", _VIDEO_SIZE, _VIDEO_SIZE),
            struct.pack(">II", 0x480000, 0x480000),  # 72 dpi
            bytes(4),
            struct.pack(">H", 1),  # frame_count
            bytes(32),  # compressorname
            struct.pack(">Hh", 0x18, -1),
            avc_config,
        )
        sample_table = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(frames), _VIDEO_FRAME_MS)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(frames), 1)),
            _full_box(
                b"stsz",
                0,
                0,
                struct.pack(">II", 0, len(frames)),
                b"".join(struct.pack(">I", len(sample)) for sample in samples),
            ),
            _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )
        media_information = _box(
            b"minf",
            _full_box(b"vmhd", 0, 1, bytes(8)),
            _box(
                b"dinf",
                _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)),
            ),
            sample_table,
        )
        media = _box(
            b"mdia",
            _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 1000, duration, 0x55C4, 0)),
            _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00"),
            media_information,
        )
        track_header = _full_box(
            b"tkhd",
            0,
            3,  # enabled and in movie
            struct.pack(">IIIII", 0, 0, 1, 0, duration),
            bytes(8),
            struct.pack(">hhhH", 0, 0, 0, 0),
            _IDENTITY_MATRIX,
            struct.pack(">II", _VIDEO_SIZE << 16, _VIDEO_SIZE << 16),
        )
        movie_header = _full_box(
            b"mvhd",
            0,
            0,
            struct.pack(">IIII", 0, 0, 1000, duration),
            struct.pack(">IH", 0x10000, 0x100),  # rate 1.0, volume 1.0
            bytes(10),
            _IDENTITY_MATRIX,
            bytes(24),
            struct.pack(">I", 2),  # next_track_ID
        )
        return _box(b"moov", movie_header, _box(b"trak", track_header, media))

    # The chunk offset does not change the size of moov, so a first pass measures it.
    movie_size = len(movie(0))
    chunk_offset = len(file_type) + movie_size + 8
    return file_type + movie(chunk_offset) + _box(b"mdat", *samples)
