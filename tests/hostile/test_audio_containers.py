"""Hostile files against audio input: the container is decided from the first bytes before any decoder runs,
ffmpeg gets an explicit demuxer and only the file protocol, and implausible headers are refused (issue 10,
items 3 and 4)."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import inference_fixture as fx
from genrelab import audio, containers
from genrelab.types import AudioError, AudioProblem

needs_ffmpeg = pytest.mark.skipif(not audio.ffmpeg_available(), reason="ffmpeg/ffprobe not on PATH")


def hls_playlist(tmp_path, target) -> bytes:
    """The attack from the issue: an HLS playlist whose one comment line is not UTF-8, naming a local file."""
    return (b"#EXTM3U\n#EXT-X-TARGETDURATION:30\n# \xff\xfe not utf-8 \xc3\x28\n#EXTINF:30.0,\n"
            + str(target).encode() + b"\n#EXT-X-ENDLIST\n")


@pytest.fixture
def playlist_m4a(tmp_path, shared_data):
    real = shared_data / "samples" / "fma-000010-pop-excerpt-2s.mp3"
    if not real.exists():
        pytest.skip("../shared/data/samples is missing")
    target = tmp_path / "secret.mp3"
    shutil.copy(real, target)
    p = tmp_path / "x.m4a"
    p.write_bytes(hls_playlist(tmp_path, target))
    return p


@pytest.fixture
def no_subprocess(monkeypatch):
    """Fail the test if anything in genrelab.audio starts a decoder process."""
    def refuse(*a, **k):
        raise AssertionError(f"a decoder process was started: {a[0] if a else k}")

    monkeypatch.setattr(audio.subprocess, "run", refuse)
    monkeypatch.setattr(audio.subprocess, "Popen", refuse)


def test_playlist_named_m4a_is_refused_before_any_decoder(playlist_m4a, no_subprocess):
    for fn in (audio.info, lambda p: audio.load(p, sr=16000), lambda p: list(audio.stream(p, 16000))):
        with pytest.raises(AudioError) as err:
            fn(playlist_m4a)
        assert err.value.problem is AudioProblem.NOT_AUDIO
        assert "playlist" in str(err.value)


@pytest.mark.parametrize("name,data", [
    ("a.m4a", b"\x00\x01garbage" * 100),
    ("b.mp3", b"MThd\x00\x00\x00\x06" + b"\x00" * 200),          # a MIDI file
    ("c.wav", b"RIFF\x10\x00\x00\x00AVI LIST" + b"\x00" * 200),   # RIFF but not WAVE
    ("d.ogg", bytes(range(256)) * 4),
    ("e.flac", b"concat:/etc/passwd|/etc/hosts\n"),
])
def test_unknown_containers_are_not_audio_whatever_the_extension(tmp_path, name, data, no_subprocess):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(AudioError) as err:
        audio.info(p)
    assert err.value.problem is AudioProblem.NOT_AUDIO and name in str(err.value)


def test_sniff_covers_the_containers_we_read():
    assert containers.sniff(b"RF64\xff\xff\xff\xffWAVEds64") == "wav"
    assert containers.sniff(b"FORM\x00\x00\x00\x00AIFC") == "aiff"
    assert containers.sniff(b"\x00\x00\x00\x1cftypisom") == "mp4"
    assert containers.sniff(b"#EXTM3U\n") is None
    assert set(containers.FFMPEG_DEMUXERS) == {"mp4", "webm", "asf", "aac"}


@needs_ffmpeg
def test_ffmpeg_gets_the_demuxer_and_file_protocol_only(tmp_path, monkeypatch):
    src = tmp_path / "t.wav"
    sf.write(src, fx.synth("midtone", 3.0), fx.SR)
    m4a = tmp_path / "odd:name.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-c:a", "aac", "file:" + str(m4a)],
                   check=True)
    calls = []
    real_run = subprocess.run

    def spy(cmd, *a, **k):
        calls.append(list(cmd))
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(audio.subprocess, "run", spy)
    y, sr = audio.load(m4a, sr=16000)
    assert sr == 16000 and y.size > 2.5 * 16000
    assert calls and all(c[c.index("-f") + 1] == "mov" and c[c.index("-protocol_whitelist") + 1] == "file"
                         and c[c.index("-i") + 1] == "file:" + str(m4a.resolve()) for c in calls)


@needs_ffmpeg
def test_cli_classify_refuses_the_playlist(playlist_m4a, tmp_path):
    from genrelab.cli import app

    ckpt = fx.make_checkpoint(tmp_path / "m", kind="torch")
    started = []
    real_popen = subprocess.Popen

    def spy(cmd, *a, **k):
        started.append(cmd)
        return real_popen(cmd, *a, **k)

    audio.subprocess.Popen, real = spy, audio.subprocess.Popen
    try:
        res = CliRunner().invoke(app, ["classify", str(playlist_m4a), "--model", str(ckpt), "--format", "json"])
    finally:
        audio.subprocess.Popen = real
    assert "not-audio" in res.output and "playlist" in res.output, res.output
    assert "secret" not in res.output.replace(str(playlist_m4a.parent), "")
    assert not any("ffmpeg" in str(c) or "ffprobe" in str(c) for c in started)


# --------------------------------------------------------------------------- implausible headers (item 4)
def wav_with_rate(path, rate: int, seconds: float = 30.0, sr: int = 22050):
    """A real ``seconds``-long PCM16 WAV whose header then claims ``rate`` Hz (fmt chunk patched)."""
    buf = io.BytesIO()
    sf.write(buf, fx.synth("noise", seconds, sr=sr), sr, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"fmt "
    struct.pack_into("<II", data, 24, rate, rate * 2)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("rate", [1, 999, 400_000])
def test_implausible_sample_rate_is_corrupt(tmp_path, rate):
    p = wav_with_rate(tmp_path / "x.wav", rate)
    for fn in (audio.info, audio.load, lambda q: list(audio.stream(q, 16000))):
        with pytest.raises(AudioError) as err:
            fn(p)
        assert err.value.problem is AudioProblem.CORRUPT and "sample rate" in str(err.value)


def test_plausible_bounds():
    containers.check_plausible("ok.wav", 8000, 2, 8000 * 3600, 10**6, compressed=False)
    with pytest.raises(AudioError, match="hours"):
        containers.check_plausible("long.flac", 44100, 2, 44100 * 25 * 3600, 10**9, compressed=True)
    with pytest.raises(AudioError, match="declared in a file of"):
        containers.check_plausible("tiny.ogg", 44100, 2, 44100 * 3600, 1000, compressed=True)
    with pytest.raises(AudioError, match="channels"):
        containers.check_plausible("many.wav", 44100, 1000, 100, 10**6, compressed=False)


def test_one_hz_header_refused_quickly_by_classify_timeline(tmp_path):
    from genrelab.cli import app

    ckpt = fx.make_checkpoint(tmp_path / "m", kind="torch")
    p = wav_with_rate(tmp_path / "one-hz.wav", 1)
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["classify", str(p), "--model", str(ckpt), "--timeline", "--format", "json"])
    elapsed = time.perf_counter() - t0
    assert "corrupt" in res.output and "sample rate 1 Hz" in res.output, res.output
    assert elapsed < 30  # today: ~220k windows planned, still running after minutes


def test_dc_only_signal_is_silent(tmp_path):
    p = tmp_path / "dc.wav"
    sf.write(p, np.full(16000 * 3, 0.25, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        audio.load(p, allow_silent=False)
    assert err.value.problem is AudioProblem.SILENT
    assert audio.is_silent(np.full((2, 100), -0.5)) and not audio.is_silent(np.sin(np.arange(100)))


def test_cancel_scope_stops_streaming(tmp_path):
    p = tmp_path / "long.wav"
    sf.write(p, fx.synth("noise", 20.0), fx.SR)
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 2:
            raise audio.WorkCancelled("stop")

    with audio.cancel_scope(check), pytest.raises(audio.WorkCancelled):
        list(audio.stream(p, fx.SR, block_seconds=1.0))
    assert len(calls) == 3
    assert len(list(audio.stream(p, fx.SR, block_seconds=5.0))) == 4  # outside the scope nothing checks
