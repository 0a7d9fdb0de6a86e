"""Helpers for the report tests (imported as `report_helpers`)."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from urllib.parse import unquote

import soundfile as sf

# An item text that would run script if a report inserted it as HTML.
HOSTILE_TEXT = "<script>window.__evalkitInjected = 1</script> Hello <b>there</b> & goodbye."
HOSTILE_ID = "hostile-1"

# Loads every <audio> element's metadata and reports whether the browser could decode
# it: canPlayType for its type, loadedmetadata fired, and a finite duration.
AUDIO_CHECK = """async () => {
  const types = {flac: "audio/flac", wav: "audio/wav", mp3: "audio/mpeg", ogg: "audio/ogg"};
  const mimeOf = (src) => src.startsWith("data:") ? src.slice(5, src.indexOf(";"))
      : types[src.split(".").pop().toLowerCase()];
  const audios = Array.from(document.querySelectorAll("audio"));
  return Promise.all(audios.map((a) => new Promise((resolve) => {
    const src = a.getAttribute("src");
    let settled = false;
    const done = (loaded) => {
      if (settled) return;
      settled = true;
      resolve({src: src.slice(0, 60), loaded, duration: a.duration, canPlay: a.canPlayType(mimeOf(src) || "")});
    };
    a.addEventListener("loadedmetadata", () => done(true), {once: true});
    a.addEventListener("error", () => done(false), {once: true});
    setTimeout(() => done(false), 15000);
    a.preload = "metadata";
    a.load();
  })));
}"""


def check_audio_elements(page) -> list[dict]:
    """Every <audio> on the page decodes in the browser; returns the results."""
    results = page.evaluate(AUDIO_CHECK)
    bad = [r for r in results if not (r["loaded"] and r["canPlay"] and r["duration"] and r["duration"] > 0)]
    assert not bad, f"{len(bad)} of {len(results)} audio elements do not play: {bad[:3]}"
    return results


def audio_sources(html_path: Path) -> dict[str, str]:
    """The page's clip key -> source map (from its data block)."""
    html = html_path.read_text(encoding="utf-8")
    tag = '<script type="application/json" id="audio-sources">'
    start = html.index(tag) + len(tag)
    return json.loads(html[start: html.index("</script>", start)])


def decode_source(page_path: Path, src: str) -> int:
    """Frames of the clip a source points to (a data URI, or a path relative to the page)."""
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
        return sf.info(io.BytesIO(data)).frames
    return sf.info(str(page_path.parent / unquote(src))).frames


def table_data(page, table_id: str) -> dict:
    return json.loads(page.text_content(f"script#data-{table_id}"))
