"""genrelab.audio: decoding every supported format, downmix, resampling, framing, streaming and bad input."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from genrelab import audio
from genrelab.types import AudioError, AudioProblem

SR = 22050
needs_ffmpeg = pytest.mark.skipif(not audio.ffmpeg_available(), reason="ffmpeg/ffprobe not on PATH")


def sine(freq=440.0, seconds=2.0, sr=SR, amp=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(y, sr):
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return np.fft.rfftfreq(y.size, 1 / sr)[int(np.argmax(spec))]


def expect_error(problem: AudioProblem, fn, *args, match: str | None = None, **kwargs) -> AudioError:
    with pytest.raises(AudioError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.problem is problem, f"expected {problem}, got {err.problem}: {err}"
    if match:
        assert match.lower() in str(err).lower(), str(err)
    return err


# --------------------------------------------------------------------------- formats
@pytest.mark.parametrize(
    "name,fmt,subtype,tol",
    [
        ("x.wav", "WAV", "PCM_16", 1e-4),
        ("x.au", "AU", "PCM_16", 1e-4),  # original GTZAN: 22050 Hz mono 16-bit big-endian AU
        ("x.snd", "AU", "PCM_16", 1e-4),
        ("x.flac", "FLAC", "PCM_16", 1e-4),
        ("x.aiff", "AIFF", "PCM_16", 1e-4),
        ("x.wav", "WAV", "FLOAT", 1e-7),
    ],
)
def test_lossless_formats_decode_exactly(tmp_path, name, fmt, subtype, tol):
    y = sine(330.0, 1.5)
    p = tmp_path / name
    sf.write(p, y, SR, format=fmt, subtype=subtype)
    info = audio.info(p)
    assert (info.sample_rate, info.channels, info.frames) == (SR, 1, y.size)
    assert info.exact and info.duration == pytest.approx(1.5)
    out, sr = audio.load(p)
    assert sr == SR and out.dtype == np.float32 and out.shape == y.shape
    np.testing.assert_allclose(out, y, atol=tol)


@pytest.mark.parametrize("name,fmt", [("x.ogg", "OGG"), ("x.mp3", "MP3")])
def test_lossy_formats_keep_the_pitch(tmp_path, name, fmt):
    y = sine(440.0, 2.0)
    p = tmp_path / name
    sf.write(p, y, SR, format=fmt)
    out, sr = audio.load(p)
    assert sr == SR
    assert abs(out.size - y.size) < 0.02 * y.size
    assert dominant_freq(out, sr) == pytest.approx(440.0, abs=3)
    assert 0.3 < np.max(np.abs(out)) < 0.7


def test_format_is_sniffed_from_content_not_extension(tmp_path):
    y = sine(440.0, 1.0)
    p = tmp_path / "really_a_wav.mp3"
    sf.write(p, y, SR, format="WAV", subtype="PCM_16")
    out, _ = audio.load(p)
    np.testing.assert_allclose(out, y, atol=1e-4)


def test_sniff_recognises_containers():
    assert audio.sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert audio.sniff(b".snd\x00\x00\x00\x18") == "au"
    assert audio.sniff(b"fLaC\x00") == "flac"
    assert audio.sniff(b"OggS\x00\x02") == "ogg"
    assert audio.sniff(b"FORM\x00\x00\x00\x00AIFF") == "aiff"
    assert audio.sniff(b"ID3\x04\x00\x00\x00\x00\x00\x00") == "mp3"
    assert audio.sniff(b"\xff\xfb\x90\x64") == "mp3"
    assert audio.sniff(b"\xff\xf1\x50\x80") == "aac"
    assert audio.sniff(b"\x00\x00\x00\x20ftypM4A ") == "mp4"
    assert audio.sniff(b"hello world") is None
    assert audio.sniff(b"\xff\xff\xff\xff") is None  # sync bits but an invalid header


@pytest.mark.integration
def test_real_fma_mp3(fma_root):
    p = fma_root / "fma_small" / "000" / "000002.mp3"
    info = audio.info(p)
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert info.exact and 29.0 < info.duration < 31.0
    stereo, sr = audio.load(p, mono=False)
    assert sr == 44100 and stereo.shape[0] == 2 and abs(stereo.shape[1] - info.frames) <= 1152
    mono, _ = audio.load(p)
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=1e-6)
    y, sr = audio.load(p, sr=SR)
    assert sr == SR and abs(y.size - info.duration * SR) < 0.01 * SR * info.duration
    assert np.isfinite(y).all() and np.max(np.abs(y)) > 0.05


@pytest.mark.integration
def test_real_gtzan_wav_and_its_au_twin(gtzan_root, tmp_path):
    p = gtzan_root / "genres_original" / "blues" / "blues.00000.wav"
    y, sr = audio.load(p)
    assert sr == SR and y.size == audio.info(p).frames and 29.9 < y.size / sr < 30.1
    au = tmp_path / "blues.00000.au"  # the original GTZAN distribution's format
    sf.write(au, y, sr, format="AU", subtype="PCM_16")
    z, _ = audio.load(au)
    np.testing.assert_allclose(z, y, atol=1e-4)


# --------------------------------------------------------------------------- downmix, resample, partial reads
def test_stereo_downmix_is_the_channel_mean(tmp_path):
    left, right = sine(220.0, 1.0, amp=0.6), sine(660.0, 1.0, amp=0.2)
    p = tmp_path / "stereo.wav"
    sf.write(p, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    mono, _ = audio.load(p)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    both, _ = audio.load(p, mono=False)
    assert both.shape == (2, left.size)
    np.testing.assert_allclose(both[1], right, atol=1e-6)


def test_resampling_keeps_pitch_and_length(tmp_path):
    p = tmp_path / "44k.wav"
    sf.write(p, sine(1000.0, 2.0, sr=44100), 44100, subtype="PCM_16")
    y, sr = audio.load(p, sr=SR)
    assert sr == SR and y.size == 2 * SR
    assert dominant_freq(y, sr) == pytest.approx(1000.0, abs=2)
    up, sr_up = audio.load(p, sr=48000)
    assert sr_up == 48000 and up.size == 96000
    stereo, _ = audio.load(p, sr=SR, mono=False)
    assert stereo.shape == (1, 2 * SR)


def test_resample_function_handles_multichannel():
    y = np.stack([sine(500.0, 1.0, sr=44100), sine(700.0, 1.0, sr=44100)])
    z = audio.resample(y, 44100, SR)
    assert z.shape == (2, SR) and z.dtype == np.float32
    assert dominant_freq(z[1], SR) == pytest.approx(700.0, abs=2)
    assert audio.resample(y[0], SR, SR).dtype == np.float32


def test_offset_and_duration_read_part_of_the_file(tmp_path):
    y = np.arange(5 * SR, dtype=np.float32) / (5 * SR)
    p = tmp_path / "ramp.wav"
    sf.write(p, y, SR, subtype="FLOAT")
    part, _ = audio.load(p, offset=2.0, duration=1.5)
    np.testing.assert_allclose(part, y[2 * SR:2 * SR + int(1.5 * SR)], atol=1e-7)


# --------------------------------------------------------------------------- framing
def test_crop_or_pad():
    y = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(audio.crop_or_pad(y, 4), [0, 1, 2, 3])
    np.testing.assert_array_equal(audio.crop_or_pad(y, 4, mode="center"), [3, 4, 5, 6])
    padded = audio.crop_or_pad(y, 13)
    assert padded.shape == (13,) and padded[10:].tolist() == [0, 0, 0]
    assert audio.crop_or_pad(np.ones((2, 5)), 8).shape == (2, 8)
    with pytest.raises(ValueError):
        audio.crop_or_pad(y, 4, mode="end")


def test_segment_presets_of_the_studies():
    sr = SR
    y = np.random.default_rng(0).standard_normal(int(30.013 * sr)).astype(np.float32)  # a GTZAN clip length
    ten3 = audio.segment(y, sr, 3.0)  # 10 x 3 s back to back (Kaggle features_3_sec)
    assert ten3.shape == (10, 3 * sr)
    np.testing.assert_array_equal(ten3[4], y[4 * 3 * sr:5 * 3 * sr])
    ten29 = audio.segment(y, sr, 2.9)  # Sirek: 10 x 2.9 s
    assert ten29.shape == (10, int(round(2.9 * sr)))
    nine = audio.segment(y, sr, 3.0, n_segments=9)  # Qin: 9 segments spread over the clip
    assert nine.shape == (9, 3 * sr)
    np.testing.assert_array_equal(nine[0], y[:3 * sr])
    np.testing.assert_array_equal(nine[-1], y[y.size - 3 * sr:])
    first9 = audio.segment(y, sr, 3.0, hop_seconds=3.0, n_segments=9)  # the first 9 back to back
    np.testing.assert_array_equal(first9, ten3[:9])
    overlap = audio.segment(y, sr, 3.0, hop_seconds=1.5)  # any window/hop
    assert overlap.shape == (19, 3 * sr)
    np.testing.assert_array_equal(overlap[1], y[int(1.5 * sr):int(1.5 * sr) + 3 * sr])
    fixed = audio.segment(y, sr, 0, seg_samples=63945)  # Saint-Felix: fixed sample count
    assert fixed.shape == (int(y.size // 63945), 63945)


def test_segment_short_signal_is_padded():
    y = np.ones(SR, dtype=np.float32)
    one = audio.segment(y, SR, 3.0)
    assert one.shape == (1, 3 * SR) and one[0, :SR].sum() == SR and one[0, SR:].sum() == 0
    assert audio.segment(y, SR, 3.0, n_segments=10).shape == (10, 3 * SR)
    assert audio.segment_starts(10, 3, hop=None, n_segments=1) == [3]
    with pytest.raises(ValueError):
        audio.segment_starts(100, 0)
    with pytest.raises(ValueError):
        audio.segment_starts(100, 10, hop=0)


# --------------------------------------------------------------------------- signal checks
def test_silent_file(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(SR, dtype=np.float32), SR)
    y, _ = audio.load(p)  # allowed by default
    assert not y.any()
    expect_error(AudioProblem.SILENT, audio.load, p, allow_silent=False, match="silence.wav")


def test_nan_and_inf_samples(tmp_path):
    y = sine(440.0, 1.0)
    y[100], y[200] = np.nan, np.inf
    p = tmp_path / "nan.wav"
    sf.write(p, y, SR, subtype="FLOAT")
    err = expect_error(AudioProblem.NON_FINITE, audio.load, p)
    assert "2 NaN or infinite" in str(err) and err.path == str(p)
    with pytest.raises(AudioError) as e:
        list(audio.stream(p, SR))
    assert e.value.problem is AudioProblem.NON_FINITE


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, sine(440.0, 0.5), SR)
    expect_error(AudioProblem.TOO_SHORT, audio.load, p, min_duration=3.0, match="0.50 s, needs at least 3 s")
    y, _ = audio.load(p, min_duration=0.5)
    assert y.size == SR // 2


def test_check_signal_on_arrays():
    audio.check_signal(sine(), SR)
    expect_error(AudioProblem.EMPTY, audio.check_signal, np.zeros(0, np.float32), SR)
    expect_error(AudioProblem.SILENT, audio.check_signal, np.zeros(10, np.float32), SR)


# --------------------------------------------------------------------------- bad files
def test_missing_empty_and_directory(tmp_path):
    expect_error(AudioProblem.MISSING, audio.load, tmp_path / "nope.wav", match="nope.wav")
    expect_error(AudioProblem.MISSING, audio.info, tmp_path / "nope.wav")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    expect_error(AudioProblem.EMPTY, audio.load, empty, match="zero bytes")
    expect_error(AudioProblem.EMPTY, audio.info, empty)
    d = tmp_path / "folder.wav"
    d.mkdir()
    expect_error(AudioProblem.NOT_AUDIO, audio.load, d, match="directory")


def test_text_renamed_mp3_is_not_audio_and_quiet(tmp_path, capfd):
    p = tmp_path / "notes.mp3"
    p.write_text("these are my notes, not a song\nline two\n")
    err = expect_error(AudioProblem.NOT_AUDIO, audio.load, p, match="text file")
    assert "these are my notes" in str(err) and "notes.mp3" in str(err)
    expect_error(AudioProblem.NOT_AUDIO, audio.info, p)
    html = tmp_path / "download.flac"
    html.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    expect_error(AudioProblem.NOT_AUDIO, audio.load, html, match="html")
    out, errout = capfd.readouterr()
    assert "Illegal Audio-MPEG-Header" not in errout + out
    assert "does not exist" not in str(err)


def test_binary_junk_is_not_audio_and_quiet(tmp_path, capfd):
    p = tmp_path / "junk.mp3"
    p.write_bytes(bytes(range(256)) * 40)
    err = expect_error(AudioProblem.NOT_AUDIO, audio.load, p, match="not a recognised audio format")
    assert "not a regular file" not in str(err)
    assert "MPEG" not in "".join(capfd.readouterr())
    zipped = tmp_path / "album.wav"
    zipped.write_bytes(b"PK\x03\x04" + bytes(200))
    expect_error(AudioProblem.NOT_AUDIO, audio.load, zipped, match="zip archive")


def test_truncated_wav_is_corrupt(tmp_path):
    p = tmp_path / "full.wav"
    sf.write(p, sine(440.0, 4.0), SR, subtype="PCM_16")
    data = p.read_bytes()
    half = tmp_path / "half.wav"
    half.write_bytes(data[: len(data) // 2])
    for fn in (audio.load, audio.info):
        expect_error(AudioProblem.CORRUPT, fn, half, match="truncated")
    with pytest.raises(AudioError):
        list(audio.stream(half, SR))
    header_only = tmp_path / "header_only.wav"
    header_only.write_bytes(data[:30])
    expect_error(AudioProblem.CORRUPT, audio.load, header_only, match="data")
    # a missing pad byte or a trailing chunk is not truncation
    extra = tmp_path / "extra.wav"
    extra.write_bytes(data + b"LIST\x04\x00\x00\x00abcd")
    assert audio.load(extra)[0].size == 4 * SR


@pytest.mark.integration
def test_truncated_real_gtzan_clip(gtzan_root, tmp_path):
    src = (gtzan_root / "genres_original" / "jazz" / "jazz.00000.wav").read_bytes()
    p = tmp_path / "jazz.00000.wav"
    p.write_bytes(src[: len(src) // 2])
    err = expect_error(AudioProblem.CORRUPT, audio.load, p, match="truncated")
    assert "jazz.00000.wav" in str(err)


def test_kaggle_style_corrupt_wav(tmp_path):
    # Kaggle's jazz.00054.wav: a RIFF/WAVE signature followed by bytes libsndfile cannot parse
    p = tmp_path / "jazz.00054.wav"
    p.write_bytes(b"RIFF\x24\x00\x10\x00WAVE" + bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    expect_error(AudioProblem.CORRUPT, audio.load, p, match="jazz.00054.wav")


def test_truncated_au_is_corrupt(tmp_path):
    p = tmp_path / "x.au"
    sf.write(p, sine(440.0, 2.0), SR, format="AU", subtype="PCM_16")
    data = p.read_bytes()
    assert struct.unpack(">I", data[8:12])[0] == 2 * 2 * SR  # the header's data size
    p.write_bytes(data[: len(data) * 2 // 3])
    expect_error(AudioProblem.CORRUPT, audio.load, p, match="AU header declares")


def test_truncated_mp3_flac_ogg_are_corrupt(tmp_path):
    y = sine(440.0, 6.0)
    for name, fmt in (("x.mp3", "MP3"), ("x.flac", "FLAC"), ("x.ogg", "OGG")):
        p = tmp_path / name
        sf.write(p, y, SR, format=fmt)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        expect_error(AudioProblem.CORRUPT, audio.load, p)


@pytest.mark.integration
def test_truncated_real_fma_mp3(fma_root, tmp_path, capfd):
    data = (fma_root / "fma_small" / "000" / "000005.mp3").read_bytes()
    p = tmp_path / "000005.mp3"
    p.write_bytes(data[: len(data) // 3])
    expect_error(AudioProblem.CORRUPT, audio.info, p, match="Xing header declares")
    assert "Xing stream size" not in "".join(capfd.readouterr())


# --------------------------------------------------------------------------- ffmpeg containers
@needs_ffmpeg
def test_m4a_through_ffmpeg(tmp_path):
    src = tmp_path / "src.wav"
    sf.write(src, np.stack([sine(440.0, 3.0, sr=44100), sine(440.0, 3.0, sr=44100)], axis=1), 44100)
    m4a = tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-c:a", "aac", "-b:a", "128k", str(m4a)],
                   check=True)
    info = audio.info(m4a)
    assert (info.sample_rate, info.channels) == (44100, 2) and 2.9 < info.duration < 3.2
    y, sr = audio.load(m4a, sr=SR)
    assert sr == SR and abs(y.size - 3 * SR) < 0.05 * SR
    assert dominant_freq(y, sr) == pytest.approx(440.0, abs=3)
    stereo, _ = audio.load(m4a, mono=False)
    assert stereo.shape[0] == 2
    streamed = np.concatenate(list(audio.stream(m4a, SR, block_seconds=1.0)))
    assert abs(streamed.size - y.size) < 0.01 * SR
    # the same file named .wav is still decoded by ffmpeg (content decides)
    renamed = tmp_path / "song_mislabelled.wav"
    shutil.copy(m4a, renamed)
    assert audio.load(renamed, sr=SR)[0].size == y.size


def test_m4a_without_ffmpeg_says_so(tmp_path, monkeypatch):
    p = tmp_path / "song.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(100))
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    assert not audio.ffmpeg_available()
    for fn in (audio.load, audio.info):
        expect_error(AudioProblem.UNSUPPORTED, fn, p, match="ffmpeg")
    with pytest.raises(AudioError, match="apt-get install ffmpeg"):
        list(audio.stream(p, SR))


@needs_ffmpeg
def test_corrupt_m4a_is_reported(tmp_path):
    p = tmp_path / "bad.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)))
    with pytest.raises(AudioError) as e:
        audio.load(p)
    assert e.value.problem in (AudioProblem.NOT_AUDIO, AudioProblem.CORRUPT) and "ffprobe" in str(e.value)


# --------------------------------------------------------------------------- streaming
def test_stream_equals_one_shot_resampling_across_blocks(tmp_path):
    rng = np.random.default_rng(3)
    y = (0.2 * rng.standard_normal((int(25.3 * 44100), 2))).astype(np.float32)
    p = tmp_path / "long.wav"
    sf.write(p, y, 44100, subtype="FLOAT")
    whole, _ = audio.load(p, sr=SR)
    blocks = list(audio.stream(p, SR, block_seconds=4.0))
    assert len(blocks) >= 6
    streamed = np.concatenate(blocks)
    assert abs(streamed.size - whole.size) <= 1
    n = min(streamed.size, whole.size)
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=2e-3)
    native = np.concatenate(list(audio.stream(p, None, block_seconds=4.0)))
    np.testing.assert_allclose(native, y.mean(axis=1), atol=1e-6)


def test_stream_segments_match_segment(tmp_path):
    y = np.random.default_rng(4).standard_normal(int(31.7 * SR)).astype(np.float32) * 0.1
    p = tmp_path / "clip.wav"
    sf.write(p, y, SR, subtype="FLOAT")
    segs = list(audio.stream_segments(p, SR, 3.0, block_seconds=7.0))
    starts = [s for s, _ in segs]
    assert starts == pytest.approx([3.0 * i for i in range(11)])  # 10 whole + a 1.7 s tail padded
    np.testing.assert_allclose(np.stack([x for _, x in segs[:10]]), audio.segment(y, SR, 3.0), atol=1e-7)
    assert segs[-1][1].shape == (3 * SR,) and not segs[-1][1][int(1.8 * SR):].any()
    hop = list(audio.stream_segments(p, SR, 3.0, hop_seconds=2.0, block_seconds=5.0))
    assert [s for s, _ in hop][:4] == [0.0, 2.0, 4.0, 6.0]
    np.testing.assert_allclose(hop[5][1], y[10 * SR:13 * SR], atol=1e-7)
    short = tmp_path / "short.wav"
    sf.write(short, y[:SR], SR, subtype="FLOAT")
    (only,) = list(audio.stream_segments(short, SR, 3.0))
    assert only[0] == 0.0 and only[1].shape == (3 * SR,)


@pytest.mark.slow
def test_twenty_minute_file_streams_in_bounded_memory(tmp_path):
    """A 20-minute 16 kHz file streamed as 3 s segments at 22050 Hz: memory stays at a few blocks."""
    native, minutes = 16000, 20
    p = tmp_path / "mix.wav"
    chunk = 60 * native
    with sf.SoundFile(p, "w", native, 1, subtype="PCM_16") as f:
        for m in range(minutes):  # a chirp per minute, so every block differs
            t = np.arange(chunk) / native
            f.write((0.4 * np.sin(2 * np.pi * (200 + 20 * m) * t * (1 + t / 120))).astype(np.float32))
    full_decode_bytes = minutes * 60 * SR * 4
    tracemalloc.start()
    try:
        count, prev_start, energy = 0, -3.0, 0.0
        picks = {}
        for start, seg in audio.stream_segments(p, SR, 3.0, block_seconds=50.0):
            assert seg.shape == (3 * SR,) and seg.dtype == np.float32
            assert start == pytest.approx(prev_start + 3.0)
            prev_start = start
            energy += float(np.mean(seg ** 2))
            if count in (16, 200, 399):  # 16 straddles the first 50 s block edge
                picks[count] = seg.copy()
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == minutes * 20
    assert peak < 40e6 < full_decode_bytes / 2, f"peak {peak / 1e6:.1f} MB"
    assert energy / count == pytest.approx(0.08, rel=0.05)
    for k, seg in picks.items():  # continuity: equal to an independent read around the segment
        ref, _ = audio.load(p, sr=SR, offset=3.0 * k - 1.0, duration=5.0)
        np.testing.assert_allclose(seg, ref[SR:4 * SR], atol=2e-3)


# --------------------------------------------------------------------------- files
def test_iter_audio_files_and_hash(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("a/x.wav", "a/y.MP3", "b.flac", ".hidden/z.wav", "a/._x.wav", "notes.txt"):
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"abc")
    found = [p.relative_to(tmp_path).as_posix() for p in audio.iter_audio_files(tmp_path)]
    assert found == ["b.flac", "a/x.wav", "a/y.MP3"]
    assert list(audio.iter_audio_files(tmp_path / "b.flac")) == [tmp_path / "b.flac"]
    assert audio.file_hash(tmp_path / "b.flac") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert audio.file_hash(tmp_path / "b.flac", algorithm="md5") == "900150983cd24fb0d6963f7d28e17f72"


def test_downmix_equals_numpy_mean_bit_for_bit():
    """audio._to_mono sums channel by channel (fast) and must give exactly ``mean(axis=1)`` (issue 15)."""
    from genrelab.audio import _to_mono

    rng = np.random.default_rng(0)
    for channels in (1, 2, 3, 6):
        x = rng.standard_normal((10_001, channels)).astype(np.float32)
        np.testing.assert_array_equal(_to_mono(x), x.mean(axis=1, dtype=np.float32))
