"""Drawing a ``plot_model`` diagram without Graphviz: a layered (Sugiyama) layout by
``grandalf`` and the picture by ``matplotlib``, both from the ``plots`` extra.

Nested models are laid out from the inside out: a cluster is laid out on its own, then takes
part in its parent's layout as one large vertex. An edge that crosses a cluster's border is
split at the border: inside the cluster it runs to (or from) a small invisible *port* vertex
that the layout keeps on the cluster's first (or last) rank, so the part inside never
crosses the cluster's other boxes, and outside it runs to the cluster's vertex.

All lengths are in points (1/72 inch): the axes span the figure one data unit per point, so
text measured in points fits the boxes at any ``dpi``.
"""

from __future__ import annotations

import io

TITLE_SIZE = 10.5
ROW_SIZE = 8.5
LINE = 1.4  # line height, in font sizes
PAD_X, PAD_Y = 9.0, 6.0
CLUSTER_PAD = 12.0
X_SPACE, Y_SPACE = 22.0, 30.0
COMPONENT_GAP = 30.0
MARGIN = 12.0
PORT = 2.0

BOX_FILL = "#e8f1fb"
INPUT_FILL = "#fdf2d9"
FROZEN_FILL = "#e6e6e6"
BOX_EDGE = "#3a5a80"
CLUSTER_FILL = "#f7f7f7"
CLUSTER_EDGE = "#888888"
EDGE_COLOR = "#444444"

_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def _requirements():
    missing = []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        missing.append("matplotlib")
    try:
        import grandalf  # noqa: F401
    except ImportError:
        missing.append("grandalf")
    if missing:
        raise ImportError(
            f"plot_model draws images without Graphviz through {' and '.join(missing)}, "
            "which is not installed: `pip install 'graphc[plots]'` (or install Graphviz's "
            "`dot`, or give a file name ending in .dot for the graph's description alone)"
        )


class _Measure:
    """Text sizes in points, from matplotlib's own font metrics."""

    def __init__(self):
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextToPath

        self._tp = TextToPath()
        self.bold = FontProperties(family="DejaVu Sans", weight="bold", size=TITLE_SIZE)
        self.normal = FontProperties(family="DejaVu Sans", size=ROW_SIZE)
        self._cache: dict = {}

    def width(self, text, prop) -> float:
        key = (text, prop.get_weight(), prop.get_size())
        if key not in self._cache:
            w, _, _ = self._tp.get_text_width_height_descent(text, prop, ismath=False)
            self._cache[key] = float(w)
        return self._cache[key]


def _row_text(what, text):
    return f"{what.capitalize()}: {text}"


def _box_size(box, measure):
    widths = [measure.width(box.title, measure.bold)]
    widths += [measure.width(_row_text(w, t), measure.normal) for w, t in box.rows]
    height = TITLE_SIZE * LINE + len(box.rows) * ROW_SIZE * LINE
    return max(widths) + 2 * PAD_X, height + 2 * PAD_Y


# ---- layout ------------------------------------------------------------------------------
class _Item:
    """A vertex of one cluster's layout: a box, a nested cluster, or a port."""

    __slots__ = ("key", "kind", "w", "h", "x", "y")

    def __init__(self, key, kind, w, h):
        self.key, self.kind, self.w, self.h = key, kind, w, h
        self.x = self.y = 0.0  # centre, in the cluster's content coordinates


class _View:
    __slots__ = ("w", "h", "xy")

    def __init__(self, w, h):
        self.w, self.h, self.xy = w, h, (0.0, 0.0)


class _EdgeView:
    __slots__ = ("points",)

    def __init__(self):
        self.points = []

    def setpath(self, points):
        self.points = list(points)


class _Level:
    """One cluster's layout: its items, its local edges and the result."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.items: dict = {}
        self.edges: dict = {}  # (item key, item key) -> route (list of points)
        self.width = self.height = 0.0
        self.ox = self.oy = 0.0  # the content's origin in the picture

    def item(self, key, kind, w=PORT, h=PORT):
        if key not in self.items:
            self.items[key] = _Item(key, kind, w, h)
        return self.items[key]


def _layout(level, rankdir):
    """Place ``level``'s items with grandalf's Sugiyama layout, one connected component
    after the other; routes of the local edges are polylines through grandalf's dummy
    vertices. Coordinates are computed top-to-bottom and turned for ``LR``."""
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import Layer, SugiyamaLayout

    lr = rankdir == "LR"
    vertices = {}
    for key, item in level.items.items():
        v = Vertex(key)
        # Layout runs top to bottom; for LR it sees each box turned a quarter.
        v.view = _View(item.h, item.w) if lr else _View(item.w, item.h)
        vertices[key] = v
    edges = []
    for a, b in level.edges:
        if a == b:
            continue  # a self-loop is drawn beside its box, not laid out
        e = Edge(vertices[a], vertices[b])
        e.view = _EdgeView()
        edges.append(e)
    graph = Graph(list(vertices.values()), edges, directed=True)
    offset = 0.0
    for component in graph.C:
        sug = SugiyamaLayout(component)
        sug.xspace, sug.yspace = X_SPACE, Y_SPACE
        sug.dw = sug.dh = 6.0  # room for an edge passing a rank, not for a median box
        # Roots in the diagram's order (inputs as the model lists them), so the first
        # input is drawn first.
        order = {key: i for i, key in enumerate(level.items)}
        roots = sorted((v for v in component.sV if len(v.e_in()) == 0), key=lambda v: order[v.data])
        component.get_scs_with_feedback(roots)
        sug.alt_e = [e for e in component.sE if e.feedback]
        sug.rank_all(roots)
        # Exit ports go on a last rank of their own: the edge reaching one then runs below
        # every box of the cluster instead of ending among them.
        exits = [v for v in component.sV if level.items[v.data].kind == "exit"]
        if exits:
            last = (
                max(sug.grx[v].rank for v in component.sV if level.items[v.data].kind != "exit") + 1
            )
            for v in exits:
                sug.layers[sug.grx[v].rank].remove(v)
                sug.grx[v].rank = last
            while len(sug.layers) <= last:
                sug.layers.append(Layer([]))
            sug.layers[last].extend(exits)
            sug.layers[:] = [layer for layer in sug.layers if layer]
        for e in component.E():
            sug.setdummies(e)
        for layer in sug.layers:
            layer.setup(sug)
        sug.initdone = True
        sug.draw(N=3.5)
        xs = [v.view.xy[0] - v.view.w / 2 for v in component.sV]
        xs += [p[0] for e in component.sE for p in e.view.points]
        shift = offset - min(xs)
        right = offset
        for v in component.sV:
            x, y = v.view.xy
            v.view.xy = (x + shift, y)
            right = max(right, x + shift + v.view.w / 2)
        for e in component.sE:
            e.view.points = [(x + shift, y) for x, y in e.view.points]
            right = max([right] + [x for x, _ in e.view.points])
        offset = right + COMPONENT_GAP
    width = height = 0.0
    for key, v in vertices.items():
        x, y = v.view.xy
        item = level.items[key]
        item.x, item.y = (y, x) if lr else (x, y)
        width = max(width, item.x + item.w / 2)
        height = max(height, item.y + item.h / 2)
    for e in edges:
        points = [(y, x) if lr else (x, y) for x, y in e.view.points]
        level.edges[(e.v[0].data, e.v[1].data)] = points
    for a, b in level.edges:
        if a == b:
            level.edges[(a, b)] = []
    level.width, level.height = width, height


def _clip(inside, outside, rect):
    """Where the segment from ``inside`` (in ``rect``) to ``outside`` leaves ``rect``."""
    (x0, y0), (x1, y1) = inside, outside
    left, top, right, bottom = rect
    t = 1.0
    dx, dy = x1 - x0, y1 - y0
    if dx > 0:
        t = min(t, (right - x0) / dx)
    elif dx < 0:
        t = min(t, (left - x0) / dx)
    if dy > 0:
        t = min(t, (bottom - y0) / dy)
    elif dy < 0:
        t = min(t, (top - y0) / dy)
    t = max(0.0, t)
    return (x0 + t * dx, y0 + t * dy)


def _plan(diagram, measure, rankdir):
    """Lay out every cluster (innermost first) and return the levels, the global rectangle
    of each box and cluster, and each diagram edge as a polyline in picture coordinates."""
    levels = {key: _Level(cluster) for key, cluster in diagram.clusters.items()}
    for level in levels.values():
        for box in level.cluster.boxes:
            level.item(("box", box.key), "box", *_box_size(box, measure))
        for sub in level.cluster.clusters:
            level.item(("cluster", sub.key), "cluster")  # sized after its own layout

    def common(a, b):
        n = 0
        while n < len(a) and n < len(b) and a[n] == b[n]:
            n += 1
        return a[:n]

    # Each edge as local edges, one per cluster it passes through, with ports at borders.
    chains = []
    for src, dst in diagram.edges:
        cu, cv = diagram.boxes[src].cluster, diagram.boxes[dst].cluster
        top = common(cu, cv)
        chain = []
        inner = ("box", src)
        for depth in range(len(cu), len(top), -1):
            port = ("exit", cu[:depth], inner)
            levels[cu[:depth]].item(port, "exit")
            chain.append((cu[:depth], inner, port))
            inner = ("cluster", cu[:depth])
        item_v = ("box", dst) if len(cv) == len(top) else ("cluster", cv[: len(top) + 1])
        chain.append((top, inner, item_v))
        for depth in range(len(top) + 1, len(cv) + 1):
            target = ("box", dst) if depth == len(cv) else ("cluster", cv[: depth + 1])
            port = ("entry", cv[:depth], target)
            levels[cv[:depth]].item(port, "entry")
            chain.append((cv[:depth], port, target))
        for cluster_key, a, b in chain:
            levels[cluster_key].edges.setdefault((a, b), [])
        chains.append(chain)

    # Innermost first: a cluster's size is known before its parent is laid out.
    for key in sorted(levels, key=len, reverse=True):
        level = levels[key]
        _layout(level, rankdir)
        if key:
            parent = levels[key[:-1]]
            item = parent.items[("cluster", key)]
            label_h = TITLE_SIZE * LINE
            label_w = measure.width(level.cluster.label, measure.bold)
            item.w = max(level.width, label_w) + 2 * CLUSTER_PAD
            item.h = level.height + 2 * CLUSTER_PAD + label_h

    # Outermost first: each content origin in picture coordinates.
    rects = {}
    root = levels[()]
    root.ox = root.oy = MARGIN
    for key in sorted(levels, key=len):
        level = levels[key]
        for item_key, item in level.items.items():
            left = level.ox + item.x - item.w / 2
            top = level.oy + item.y - item.h / 2
            rects[item_key] = (left, top, left + item.w, top + item.h)
            if item.kind == "cluster":
                sub = levels[item_key[1]]
                extra_w = item.w - 2 * CLUSTER_PAD - sub.width
                sub.ox = left + CLUSTER_PAD + extra_w / 2
                sub.oy = top + CLUSTER_PAD + TITLE_SIZE * LINE

    def centre(key):
        left, top, right, bottom = rects[key]
        return ((left + right) / 2, (top + bottom) / 2)

    routes = []
    for (src, dst), chain in zip(diagram.edges, chains, strict=True):
        if src == dst:
            routes.append(("loop", src))
            continue
        points = []
        for i, (cluster_key, a, b) in enumerate(chain):
            level = levels[cluster_key]
            local = level.edges[(a, b)]
            pts = [(level.ox + x, level.oy + y) for x, y in local] or [centre(a), centre(b)]
            if a[0] in ("box", "cluster") and len(pts) > 1:
                pts[0] = _clip(pts[0], pts[1], rects[a])
                if a[0] == "cluster" and i > 0:
                    # Leave the cluster straight out from its exit port.
                    pts[0] = _on_border(rects[chain[i - 1][2]], rects[a], rankdir, "far")
            if b[0] in ("box", "cluster") and len(pts) > 1:
                pts[-1] = _clip(pts[-1], pts[-2], rects[b])
                if b[0] == "cluster" and i + 1 < len(chain):
                    # Enter the cluster straight towards its entry port.
                    pts[-1] = _on_border(rects[chain[i + 1][1]], rects[b], rankdir, "near")
            points.extend(pts)
        routes.append(("path", points))
    return levels, rects, routes


def _on_border(port, cluster, rankdir, side):
    """The point of ``cluster``'s border in line with ``port`` along the rank axis: on its
    near side (where edges come in) or far side (where they leave)."""
    px, py = (port[0] + port[2]) / 2, (port[1] + port[3]) / 2
    left, top, right, bottom = cluster
    if rankdir == "LR":
        return (left if side == "near" else right, py)
    return (px, top if side == "near" else bottom)


# ---- drawing -----------------------------------------------------------------------------
def render(diagram, extension, *, rankdir="TB", dpi=200, to_file=None) -> bytes:
    """The picture's bytes in ``extension``'s format."""
    _requirements()
    if extension not in _FORMATS:
        raise ValueError(
            f"plot_model cannot draw {extension!r} without Graphviz; use one "
            f"of {', '.join(_FORMATS[:3])} (or .dot for the description)"
        )
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    measure = _Measure()
    levels, rects, routes = _plan(diagram, measure, rankdir)
    root = levels[()]
    width = root.width + 2 * MARGIN
    height = root.height + 2 * MARGIN
    for _, _, right, bottom in rects.values():  # room for loops beside the boxes
        width = max(width, right + MARGIN + 12)
        height = max(height, bottom + MARGIN + 12)
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "pdf.fonttype": 42, "font.family": "DejaVu Sans"}
    ):
        fig = Figure(figsize=(width / 72.0, height / 72.0))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)  # y grows downwards, as the layout's ranks do
        ax.axis("off")

        for key in sorted(levels, key=len):
            if not key:
                continue
            left, top, right, bottom = rects[("cluster", key)]
            ax.add_patch(
                FancyBboxPatch(
                    (left, top),
                    right - left,
                    bottom - top,
                    boxstyle="round,pad=0,rounding_size=6",
                    facecolor=CLUSTER_FILL,
                    edgecolor=CLUSTER_EDGE,
                    linestyle="--",
                    linewidth=1.0,
                    zorder=len(key),
                )
            )
            # Above the edges, on the cluster's colour: an edge entering the cluster
            # passes under its name instead of through it.
            ax.text(
                left + CLUSTER_PAD / 2,
                top + CLUSTER_PAD / 2,
                levels[key].cluster.label,
                fontsize=TITLE_SIZE,
                fontweight="bold",
                color="#555555",
                ha="left",
                va="top",
                zorder=55,
                bbox={"facecolor": CLUSTER_FILL, "edgecolor": "none", "pad": 1.0},
            )
        for kind, route in routes:
            if kind == "loop":
                left, top, right, bottom = rects[("box", route)]
                # Beside the box, on a side that edges do not use: right for TB, below for LR.
                if rankdir == "LR":
                    mid = (left + right) / 2
                    loop = [
                        (mid - 6, bottom),
                        (mid - 10, bottom + 16),
                        (mid + 10, bottom + 16),
                        (mid + 6, bottom),
                    ]
                else:
                    mid = (top + bottom) / 2
                    loop = [
                        (right, mid - 6),
                        (right + 16, mid - 10),
                        (right + 16, mid + 10),
                        (right, mid + 6),
                    ]
                path = Path(loop, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
            else:
                path = Path(route, [Path.MOVETO] + [Path.LINETO] * (len(route) - 1))
            ax.add_patch(
                FancyArrowPatch(
                    path=path,
                    arrowstyle="-|>",
                    mutation_scale=10,
                    color=EDGE_COLOR,
                    linewidth=1.0,
                    shrinkA=0,
                    shrinkB=0,
                    zorder=50,
                )
            )
        for box in diagram.boxes.values():
            left, top, right, bottom = rects[("box", box.key)]
            fill = INPUT_FILL if box.is_input else BOX_FILL
            if not box.trainable and not box.is_input:
                fill = FROZEN_FILL
            ax.add_patch(
                FancyBboxPatch(
                    (left, top),
                    right - left,
                    bottom - top,
                    boxstyle="round,pad=0,rounding_size=4",
                    facecolor=fill,
                    edgecolor=BOX_EDGE,
                    linewidth=1.0,
                    zorder=60,
                )
            )
            cx = (left + right) / 2
            y = top + PAD_Y + TITLE_SIZE * LINE / 2
            ax.text(
                cx,
                y,
                box.title,
                fontsize=TITLE_SIZE,
                fontweight="bold",
                ha="center",
                va="center_baseline",
                zorder=61,
            )
            y += TITLE_SIZE * LINE / 2
            if box.rows:
                ax.plot([left, right], [y, y], color=BOX_EDGE, linewidth=0.6, zorder=61)
            for what, text in box.rows:
                ax.text(
                    cx,
                    y + ROW_SIZE * LINE / 2,
                    _row_text(what, text),
                    fontsize=ROW_SIZE,
                    ha="center",
                    va="center_baseline",
                    zorder=61,
                )
                y += ROW_SIZE * LINE
        buffer = io.BytesIO()
        names = ", ".join(box.title for box in diagram.boxes.values())
        metadata = {"Title": diagram.name}
        if extension == "png":
            # Readable without OCR: the layer names in the PNG's text chunk.
            metadata["Description"] = f"layers: {names}"
        elif extension in ("svg", "pdf"):
            metadata["Description" if extension == "svg" else "Subject"] = f"layers: {names}"
        else:
            metadata = None
        fig.savefig(
            buffer, format="jpeg" if extension == "jpg" else extension, dpi=dpi, metadata=metadata
        )
    return buffer.getvalue()
