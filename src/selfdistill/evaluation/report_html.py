"""Every run report also as one self-contained HTML page, rendered from its markdown.

The recipes write report.md as before; write_html_report(md) turns the same text into
report.html beside it: tables and headings from the markdown (markdown-it, the parser
rich already uses), every local image embedded as a data URI, the run's config.yaml, and
the commands that reproduce the run. The page needs no network and no other file (links
to other pages of the run, such as token-credit pages, stay relative links).
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
import shlex
import sys
from pathlib import Path
from typing import Any

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;
 padding:0 16px;color:#1b1f24;background:#fff}
h1{font-size:1.7em;margin:.3em 0}h2{font-size:1.3em;margin:1.5em 0 .5em;border-bottom:1px solid #ddd}
h3{font-size:1.1em}
table{border-collapse:collapse;margin:.8em 0;font-size:14px;display:block;overflow-x:auto}
th,td{border:1px solid #d8dde3;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f4f5f7}tbody tr:nth-child(even){background:#fafbfc}
img{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px}
code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;background:#f4f5f7;padding:1px 4px;border-radius:3px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:10px;overflow-x:auto}
pre code{background:none;padding:0}
section.meta{margin-top:2em;border-top:2px solid #ddd;padding-top:.5em}
#reproduce + pre{white-space:pre-wrap;word-break:break-all}
footer{color:#777;font-size:12px;margin-top:2em}
"""

# How each recipe's run is reproduced from its own config.yaml (the run dir's record).
_FROM_CONFIG = {
    "ssd": "selfdistill ssd run {config}",
    "sdpo": "selfdistill sdpo train {config}",
}


def _markdown(text: str) -> str:
    """Markdown -> HTML: CommonMark with GFM tables; raw HTML in the text stays escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def embed_images(body: str, base: Path) -> str:
    """Replace <img src="relative/file"> by data URIs of the files under base (others kept)."""

    def repl(m: re.Match[str]) -> str:
        src = html.unescape(m.group(2))
        if re.match(r"^[a-z]+:", src):  # http:, data:, ...: not a local file
            return m.group(0)
        path = (base / src).resolve()
        if not path.is_file():
            return m.group(0)
        return f'{m.group(1)}"{_data_uri(path)}"'

    return re.sub(r'(<img\s[^>]*?src=)"([^"]*)"', repl, body)


def invoked_command() -> str | None:
    """The selfdistill command line of this process, if it was started as the CLI."""
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    if argv0 == "selfdistill" or (argv0 in ("main.py", "__main__.py") and "selfdistill" in
                                  sys.argv[0]):
        return "selfdistill " + shlex.join(sys.argv[1:])
    return None


def reproduce_commands(run_dir: Path, config: dict[str, Any] | None) -> list[str]:
    """Commands that reproduce the run: the one that ran it, and one from its config.yaml."""
    cmds = []
    cmd = invoked_command()
    if cmd:
        cmds.append(cmd)
    recipe = (config or {}).get("recipe")
    cfg_path = shlex.quote(str(run_dir / "config.yaml"))
    if recipe in _FROM_CONFIG:
        cmds.append(_FROM_CONFIG[recipe].format(config=cfg_path))
    elif recipe == "discover":
        which = "discover" if (config or {}).get("problem") else "discover-bench"
        cmds.append(f"selfdistill {which} --recipe {cfg_path}")
    elif recipe == "evaluate":
        m, e = config.get("model", {}), config.get("eval", {})
        temps = ",".join(f"{t:g}" for t in e.get("temperatures", []))
        k = ",".join(str(x) for x in e.get("k_values", []))
        parts = ["selfdistill evaluate", f"--model {shlex.quote(str(m.get('spec')))}",
                 f"--benchmark {shlex.quote(str(e.get('benchmark')))}", f"--n {e.get('n')}",
                 f"--temperatures {temps}", f"--top-k {e.get('top_k')}",
                 f"--top-p {e.get('top_p')}", f"--max-new-tokens {e.get('max_new_tokens')}",
                 f"--k {k}", f"--seed {e.get('seed')}", f"--dtype {m.get('dtype')}",
                 f"--run-dir {shlex.quote(str(run_dir))}"]
        if e.get("limit") is not None:
            parts.append(f"--limit {e['limit']}")
        cmds.append(" ".join(parts))
    return list(dict.fromkeys(cmds))  # the same command twice is shown once


def render_html_report(markdown_text: str, base: Path, *, title: str | None = None,
                       config_text: str | None = None, commands: list[str] | None = None
                       ) -> str:
    """The HTML page for a report's markdown (images under base are embedded)."""
    body = embed_images(_markdown(markdown_text), base)
    if title is None:
        first = next((ln for ln in markdown_text.splitlines() if ln.startswith("# ")), "# Report")
        title = first[2:].strip()
    meta = []
    if commands:
        cmd_text = "\n".join(commands)
        meta.append(f'<h2 id="reproduce">Reproduce</h2><pre><code>{html.escape(cmd_text)}'
                    "</code></pre>")
    if config_text:
        meta.append('<h2 id="config">Config</h2><details open><summary>config.yaml</summary>'
                    f"<pre><code>{html.escape(config_text)}</code></pre></details>")
    meta_html = f'<section class="meta">{"".join(meta)}</section>' if meta else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<main id="report">
{body}
</main>
{meta_html}
<footer>Written by selfdistill from {html.escape(base.name)}/; the markdown beside this
page holds the same report.</footer>
</body></html>
"""


def write_html_report(md_path: str | Path, *, commands: list[str] | None = None) -> Path:
    """Write md_path's report as a self-contained .html beside it; return the HTML path.

    The run's config.yaml (in the same directory), if any, is shown and used to derive
    the reproduce commands (unless commands are given).
    """
    import yaml

    md_path = Path(md_path)
    run_dir = md_path.parent
    cfg_file = run_dir / "config.yaml"
    config_text = cfg_file.read_text() if cfg_file.is_file() else None
    config = None
    if config_text:
        try:
            loaded = yaml.safe_load(config_text)
            config = loaded if isinstance(loaded, dict) else None
        except yaml.YAMLError:
            config = None
    if commands is None:
        commands = reproduce_commands(run_dir, config)
    out = md_path.with_suffix(".html")
    out.write_text(render_html_report(md_path.read_text(), run_dir, config_text=config_text,
                                      commands=commands), encoding="utf-8")
    return out
