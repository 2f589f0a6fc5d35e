"""Make GX Data Docs render offline: no CDN stylesheet or script, no external link, a static index.

GX pages load Bootstrap, jQuery, bootstrap-table, vega and Font Awesome from CDNs. The validation and
suite pages are static HTML, so the CDN tags and the scripts that need them are removed, a small inline
stylesheet replaces Bootstrap's layout, and the index (which GX fills with bootstrap-table from a script)
is rewritten as a plain table.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from siskin.quality.gx_run import Outcome

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']\s*(?:https?:)?//""", re.I)
_LINK_TAG = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["'](?:https?:)?//[^>]*>""", re.I)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_IMG_EXTERNAL = re.compile(r"""<img\b[^>]*\bsrc\s*=\s*["'](?:https?:)?//[^>]*>""", re.I)
_ATTR_EXTERNAL = re.compile(r"""\s(?:href|action|src)\s*=\s*["'](?:https?:)?//[^"']*["']""", re.I)
_CSS_URL = re.compile(r"""url\(\s*["']?(?:https?:)?//[^)]*\)""", re.I)

STYLE = """<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;background:#fff}
.container,.container-fluid{padding:0 1rem;margin:0 auto}.row{display:flex;flex-wrap:wrap;margin:0 -.5rem}
[class*="col-"]{padding:0 .5rem;box-sizing:border-box;flex:1 1 0;min-width:0}.col-md-2,.col-2{flex:0 0 16%}
.col-md-10,.col-10{flex:0 0 84%}.col-12{flex:0 0 100%}
table,.table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #dee2e6;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f1f3f5}.card{border:1px solid #dee2e6;border-radius:4px;margin:.75rem 0;padding:.5rem}
.card-header{font-weight:600;border-bottom:1px solid #dee2e6;padding-bottom:.3rem;margin-bottom:.3rem}
.badge{display:inline-block;padding:.1rem .4rem;border-radius:3px;background:#e9ecef;font-size:.8rem}
.text-success,.ok{color:#1b7f3b}.text-danger,.fail{color:#c0392b}.d-none,.modal,.sticky-footer{display:none}
nav,.navbar{background:#f8f9fa;padding:.5rem 1rem;border-bottom:1px solid #dee2e6}code{font-size:.85rem}
ul.nav{list-style:none;padding-left:0}.alert{padding:.5rem;border:1px solid #dee2e6;border-radius:4px}
footer{display:none}.fa-check-circle::before{content:"\\2714";color:#1b7f3b}
.fa-times::before{content:"\\2718";color:#c0392b}.fa-exclamation-triangle::before{content:"\\26A0"}
.fa-question-circle::before{content:"?"}
</style>"""


def offline_html(text: str) -> str:
    """One page without anything it would fetch from the network, with the inline stylesheet."""
    text = _LINK_TAG.sub("", text)
    text = _SCRIPT.sub("", text)
    text = _IMG_EXTERNAL.sub("", text)
    text = _ATTR_EXTERNAL.sub("", text)
    text = _CSS_URL.sub("none", text)
    if "</head>" in text:
        text = text.replace("</head>", STYLE + "</head>", 1)
    return text


def index_html(outcomes: Sequence[Outcome], docs_dir: Path, night: int) -> str:
    """A static index of the night's validations: one row per suite, failures listed, links to pages."""
    rows = []
    for suite in dict.fromkeys(o.suite for o in outcomes):
        mine = [o for o in outcomes if o.suite == suite]
        failed = [o for o in mine if not o.success]
        pages = sorted((docs_dir / "validations").glob(f"{suite.replace('.', '/')}/**/*.html"))
        link = pages[-1].relative_to(docs_dir).as_posix() if pages else ""
        suite_page = docs_dir / "expectations" / (suite.replace(".", "/") + ".html")
        status = "fail" if failed else "ok"
        name = f'<a href="{html.escape(link)}">{html.escape(suite)}</a>' if link else html.escape(suite)
        suite_link = suite_page.relative_to(docs_dir).as_posix()
        expectations = f'<a href="{suite_link}">suite</a>' if suite_page.exists() else ""
        detail = "<br>".join(html.escape(f"{o.expectation} {o.column}: {o.observed}") for o in failed)
        rows.append(
            f'<tr><td>{name}</td><td class="{status}">{status}</td><td>{len(mine) - len(failed)}/{len(mine)}'
            f"</td><td>{expectations}</td><td>{detail}</td></tr>"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Data Docs: night {night}</title>{STYLE}"
        f"</head><body><div class='container'><h1>Data quality, night {night}</h1>"
        "<table><tr><th>suite</th><th>status</th><th>passed</th><th>expectations</th><th>failures</th></tr>"
        + "".join(rows)
        + "</table><p><a href='../report.html'>nightly report</a></p></div></body></html>"
    )


def make_offline(docs_dir: Path, outcomes: Sequence[Outcome], night: int) -> None:
    """Rewrite every page and stylesheet of the site in place, and replace its index."""
    for page in docs_dir.rglob("*.html"):
        page.write_text(offline_html(page.read_text(encoding="utf-8")), encoding="utf-8")
    for sheet in docs_dir.rglob("*.css"):
        sheet.write_text(_CSS_URL.sub("none", sheet.read_text(encoding="utf-8")), encoding="utf-8")
    (docs_dir / "index.html").write_text(index_html(outcomes, docs_dir, night), encoding="utf-8")


def external_references(text: str) -> list[str]:
    """Every place a page would reach the network (src/href/action to http(s) or //): should be none."""
    return [m.group(0) for m in EXTERNAL.finditer(text)] + [m.group(0) for m in _CSS_URL.finditer(text)]
