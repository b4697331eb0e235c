"""The interactive page: ``render(y, path="graph.html")``.

One self-contained HTML file (no network: the drawings and a small script are inline) showing the
graph with module clusters that open and close on click, pan (drag) and zoom (wheel, or + / -), and
each op's formulas in a tooltip.

Graphviz lays out a drawing once, so opening a module cannot move the boxes around it in the
browser. The page instead holds one drawing per set of open modules, laid out here by ``dot``: the
opening view (modules above ``collapse_depth`` open: for ResNet18 its stages), every "branch" (a
module and the modules around it open, e.g. ``layer2`` then ``layer2.0``), and all modules open.
Clicking a folded box shows its branch open; clicking an open frame's label closes it. Opening a
module in another branch closes the first (one branch is open at a time; "open all" shows all).
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor

from . import dot as D
from . import gradflow as GF
from . import labels as L


def write_page(*outputs, path, collapse_depth=1, group_modules=True, title=None, rankdir=None, legend=True,
               grad_flow=False, grad_range=None, **options):
    """Write the page for ``outputs`` into ``path``; the options are ``to_dot``'s. ``collapse_depth``
    sets the opening view (1: the model's top-level modules, e.g. ResNet18's stages). Returns path."""
    if not group_modules:
        raise ValueError("render(.html): the page opens and closes module clusters: use group_modules=True")
    outputs = D._check_outputs("render", outputs)
    if collapse_depth is not None and (isinstance(collapse_depth, bool) or not isinstance(collapse_depth, int)
                                       or collapse_depth < 0):
        raise ValueError(f"render(.html): collapse_depth must be None or an int >= 0, got {collapse_depth!r}")
    grads = GF.gradient_norms(outputs[0]) if grad_flow else None
    common = dict(options, group_modules=True, grad_flow=grad_flow, grads=grads)
    full = D.build_graph(*outputs, **common)
    if grad_flow and grad_range is None:  # one colour scale for every view
        grad_range = GF.log_range(list(grads.values()))
    scopes = list(full.scopes.values())
    index = {s.key: k for k, s in enumerate(scopes)}
    inner = [s for s in scopes if not s.leaf]  # modules with modules inside: the ones that open and close

    def chain(scope):
        return frozenset(k for k in scope.path if k in index and not full.scopes[k].leaf)

    opening = frozenset(s.key for s in inner if collapse_depth is None or s.depth < collapse_depth)
    states = {opening, frozenset(), frozenset(s.key for s in inner)}
    states.update(chain(s) for s in inner)
    names = {st: ",".join(str(i) for i in sorted(index[k] for k in st)) for st in states}

    def element_id(scope, what):
        return f"{what}_{index[scope.key]}"  # no "-": graphviz writes it as &#45;

    def draw(state):
        g = D.build_graph(*outputs, expanded=state, fold_leaves=False, grad_range=grad_range, **common)
        if g.grad_range is not None and grad_range is not None:
            g.grad_range = grad_range
        dot = D.graph_to_dot(g, group_modules=True, rankdir=rankdir or "TB", title=title, legend=legend,
                             element_ids=element_id)
        svg = D.run_dot(dot.source, "svg").decode("utf-8")
        return svg[svg.index("<svg"):]

    order = sorted(states, key=lambda st: (len(st), names[st]))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        svgs = dict(zip((names[st] for st in order), pool.map(draw, order)))
    data = dict(
        views=svgs,
        opening=names[opening],
        all=names[frozenset(s.key for s in inner)],
        modules=[dict(id=index[s.key], name=s.name or type(s.module).__name__, label=s.label,
                      parent=index[s.path[-2]] if len(s.path) > 1 else None, opens=not s.leaf,
                      chain=names[chain(s)] if not s.leaf else None) for s in scopes],
    )
    page = _PAGE.replace("__TITLE__", L.escape(title or "minigrad graph"))
    page = page.replace("__DATA__", json.dumps(data).replace("</", "<\\/"))
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
  html, body { margin: 0; height: 100%; font: 14px Helvetica, Arial, sans-serif; }
  #bar { position: fixed; top: 0; left: 0; right: 0; padding: 6px 10px; background: #f4f4f8;
         border-bottom: 1px solid #ccc; z-index: 2; }
  #bar button { margin-right: 4px; }
  #where { margin-left: 10px; color: #444; }
  #help { float: right; color: #666; font-size: 12px; margin-top: 3px; }
  #view { position: absolute; top: 38px; left: 0; right: 0; bottom: 0; overflow: hidden; cursor: grab;
          background: white; }
  #view.dragging { cursor: grabbing; }
  #view svg { width: 100%; height: 100%; }
  .opens { cursor: pointer; }
  .opens:hover polygon, .opens:hover path { stroke: #d04a02; stroke-width: 2.5px; }
  #tip { position: fixed; display: none; max-width: 560px; padding: 6px 8px; background: #fffbe6;
         border: 1px solid #b8a032; border-radius: 4px; white-space: pre-wrap; font: 12px monospace;
         pointer-events: none; z-index: 3; box-shadow: 0 2px 6px rgba(0,0,0,.2); }
</style></head>
<body>
<div id="bar">
  <button id="open-all">open all</button><button id="opening">opening view</button>
  <button id="fit">fit</button><button id="zoom-in">+</button><button id="zoom-out">&minus;</button>
  <span id="where"></span>
  <span id="help">click a purple box to open it, an open frame's label to close it; drag to pan, wheel to zoom;
  hover an op for its formulas</span>
</div>
<div id="view"></div>
<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var view = document.getElementById("view"), tip = document.getElementById("tip");
  var modules = {}; data.modules.forEach(function (m) { modules[m.id] = m; });
  var current = null, svg = null, box = null, full = null;

  function parse(state) { return state === "" ? [] : state.split(",").map(Number); }
  function key(ids) { return ids.slice().sort(function (a, b) { return a - b; }).join(","); }
  function descendants(id) {
    var out = [id], grew = true;
    while (grew) {
      grew = false;
      data.modules.forEach(function (m) {
        if (m.parent !== null && out.indexOf(m.parent) >= 0 && out.indexOf(m.id) < 0) { out.push(m.id); grew = true; }
      });
    }
    return out;
  }
  function setBox(b) { box = b; svg.setAttribute("viewBox", [b.x, b.y, b.w, b.h].join(" ")); }
  function fitTo(b, maxScale) {
    var w = view.clientWidth, h = view.clientHeight;
    var s = Math.min(w / b.w, h / b.h, maxScale || Infinity);
    var bw = w / s, bh = h / s;
    setBox({x: b.x - (bw - b.w) / 2, y: b.y - (bh - b.h) / 2, w: bw, h: bh});
  }
  function show(state, focus) {
    current = state;
    tip.style.display = "none";
    view.innerHTML = data.views[state];
    svg = view.querySelector("svg");
    svg.removeAttribute("width"); svg.removeAttribute("height");
    var vb = svg.viewBox.baseVal;
    full = {x: vb.x, y: vb.y, w: vb.width, h: vb.height};
    wire();
    var target = focus !== undefined ? document.getElementById("cluster_" + focus) : null;
    if (target) {  // the opened module's frame, in the svg's own coordinates (graphviz translates its drawing)
      var b = target.getBBox(), m = 30;
      var ctm = svg.getScreenCTM().inverse().multiply(target.getScreenCTM());
      var p0 = new DOMPoint(b.x, b.y).matrixTransform(ctm);
      var p1 = new DOMPoint(b.x + b.width, b.y + b.height).matrixTransform(ctm);
      fitTo({x: Math.min(p0.x, p1.x) - m, y: Math.min(p0.y, p1.y) - m,
             w: Math.abs(p1.x - p0.x) + 2 * m, h: Math.abs(p1.y - p0.y) + 2 * m}, 1.5);
    } else {
      fitTo(full, 1.5);
    }
    var open = parse(state).map(function (i) { return modules[i].name; });
    document.getElementById("where").textContent = "open: " + (open.length ? open.join(", ") : "nothing (the model as one box)");
  }
  function openModule(id) {
    var ids = parse(current); ids.push(id);
    var next = data.views[key(ids)] !== undefined ? key(ids) : modules[id].chain;
    show(next, id);
  }
  function closeModule(id) {
    var gone = descendants(id);
    var ids = parse(current).filter(function (i) { return gone.indexOf(i) < 0; });
    var next = key(ids);
    if (data.views[next] === undefined) {
      var parent = modules[id].parent;
      next = parent === null ? "" : modules[parent].chain;
    }
    show(next, modules[id].parent === null ? undefined : modules[id].parent);
  }
  function wire() {
    data.modules.forEach(function (m) {
      if (!m.opens) { return; }
      var node = document.getElementById("node_" + m.id);
      if (node) {
        node.classList.add("opens");
        node.addEventListener("click", function (e) { e.stopPropagation(); openModule(m.id); });
      }
      var cl = document.getElementById("cluster_" + m.id);
      if (cl) {
        cl.classList.add("opens");
        cl.addEventListener("click", function (e) { e.stopPropagation(); closeModule(m.id); });
      }
    });
    // formulas and details: a styled tooltip instead of the browser's
    Array.prototype.forEach.call(svg.querySelectorAll("a"), function (a) {
      var text = a.getAttribute("xlink:title") || a.getAttributeNS("http://www.w3.org/1999/xlink", "title");
      if (!text) { return; }
      a.removeAttributeNS("http://www.w3.org/1999/xlink", "title"); a.removeAttribute("xlink:title");
      a.addEventListener("mousemove", function (e) {
        tip.textContent = text; tip.style.display = "block";
        tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 14) + "px";
      });
      a.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    });
    Array.prototype.forEach.call(svg.querySelectorAll("title"), function (t) { t.remove(); });
  }
  function zoom(factor, cx, cy) {
    var r = svg.getBoundingClientRect();
    var px = box.x + (cx - r.left) / r.width * box.w, py = box.y + (cy - r.top) / r.height * box.h;
    setBox({x: px - (px - box.x) * factor, y: py - (py - box.y) * factor, w: box.w * factor, h: box.h * factor});
  }
  view.addEventListener("wheel", function (e) {
    e.preventDefault(); zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, e.clientX, e.clientY);
  }, {passive: false});
  var drag = null;
  view.addEventListener("mousedown", function (e) { drag = {x: e.clientX, y: e.clientY, box: box}; view.classList.add("dragging"); });
  window.addEventListener("mouseup", function () { drag = null; view.classList.remove("dragging"); });
  window.addEventListener("mousemove", function (e) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect(), s = drag.box.w / r.width;
    setBox({x: drag.box.x - (e.clientX - drag.x) * s, y: drag.box.y - (e.clientY - drag.y) * s, w: drag.box.w, h: drag.box.h});
  });
  function centre() { var r = view.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }
  document.getElementById("zoom-in").onclick = function () { var c = centre(); zoom(1 / 1.3, c[0], c[1]); };
  document.getElementById("zoom-out").onclick = function () { var c = centre(); zoom(1.3, c[0], c[1]); };
  document.getElementById("fit").onclick = function () { fitTo(full); };
  document.getElementById("open-all").onclick = function () { show(data.all); };
  document.getElementById("opening").onclick = function () { show(data.opening); };
  window.addEventListener("resize", function () { fitTo(full, 1.5); });
  window.minigradGraph = {show: show, open: openModule, close: closeModule, state: function () { return current; }};
  show(data.opening);
})();
</script>
</body></html>
"""
