"""The look of the HTML report (``gradverify.html``): its marks and its stylesheet.

Each mark has a symbol and words, so it reads without colour (a printout, colour blindness);
the colour repeats it. Every CSS rule is scoped to the report's own ``<div class="gradverify">``
so that it changes nothing else in a notebook.
"""

from __future__ import annotations

#: mark -> (symbol, words, css class); the symbol and the words carry the meaning, colour repeats it
MARKS: dict[str, tuple[str, str, str]] = {
    "wrong": ("✗", "wrong", "gv-wrong"),
    "variant": ("Δ", "definition difference", "gv-variant"),
    "convention": ("≈", "convention difference", "gv-conv"),
    "right": ("✓", "right", "gv-right"),
    "unsupported": ("⊘", "not supported", "gv-unsup"),
    "unchecked": ("–", "not checked", "gv-none"),
}

_CSS = """
&{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:13px;
 color:#202124;background:#fff;padding:12px 14px;border:1px solid #dadce0;border-radius:8px;
 max-width:1180px;line-height:1.4}
& h2{font-size:16px;margin:0 0 4px}
& h3{font-size:14px;margin:16px 0 6px}
& .gv-verdict{font-size:15px;font-weight:600;padding:6px 10px;border-radius:6px;
 margin:6px 0;display:inline-block}
& .gv-sub{color:#5f6368;margin:2px 0}
& table{border-collapse:collapse;margin:4px 0}
& th,& td{border:1px solid #dadce0;padding:3px 8px;text-align:left;
 vertical-align:top}
& th{background:#f1f3f4;font-weight:600;white-space:nowrap}
& td.gv-check{white-space:nowrap}
& table.gv-functions{width:100%;table-layout:fixed}
& table.gv-functions td,& table.gv-functions th{overflow-wrap:anywhere;
 white-space:normal}
& table.gv-functions .gv-mark{white-space:normal}
& td.gv-num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
& .gv-mark{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;
 white-space:nowrap}
& .gv-wrong:is(.gv-mark,.gv-verdict){background:#d93025;color:#fff}
& .gv-right:is(.gv-mark,.gv-verdict){background:#1e8e3e;color:#fff}
& .gv-conv:is(.gv-mark,.gv-verdict){background:#f9ab00;color:#202124}
& .gv-variant:is(.gv-mark,.gv-verdict){background:#8430ce;color:#fff}
& .gv-mark.gv-unsup{background:#dadce0;color:#202124}
& .gv-none:is(.gv-mark,.gv-verdict){background:#f1f3f4;color:#5f6368;
 border:1px dashed #9aa0a6}
& .gv-cell.gv-wrong{background:#fce8e6}& .gv-cell.gv-right{background:#e6f4ea}
& .gv-cell.gv-conv{background:#fef7e0}& .gv-cell.gv-variant{background:#f3e8fd}
& .gv-cell:is(.gv-unsup,.gv-none){background:#f8f9fa;color:#5f6368}
& tr.gv-detail>td{background:#fafafa;border-top:none}
& details{margin:2px 0}
& summary{cursor:pointer;color:#1a73e8}
& details details{margin-left:14px;border-left:3px solid #d93025;padding-left:8px}
& pre{background:#f8f9fa;border:1px solid #e8eaed;padding:6px 8px;margin:4px 0;
 white-space:pre-wrap;font-size:12px}
& code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
& dl{margin:4px 0;display:grid;grid-template-columns:max-content 1fr;gap:2px 10px}
& dt{font-weight:600;color:#5f6368}& dd{margin:0}
& .gv-warn{background:#fef7e0;border:1px solid #f9ab00;border-radius:6px;
 padding:4px 10px;margin:6px 0}
& .gv-legend{color:#5f6368;margin:8px 0 0}
& .gv-legend .gv-mark{margin-right:2px}
"""
CSS = _CSS.replace("&", ".gradverify")  # every rule scoped to the report's own <div>
