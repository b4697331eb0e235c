"""Graph drawings (minigrad.viz): DOT source for small known graphs, module clusters, backward graphs,
rendering with and without Graphviz."""
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad
import nn
from minigrad import autograd, viz
from minigrad.ops import elementwise as ew

NODE = re.compile(r"^\s*(?!graph )(\w+) \[label=", re.M)
EDGE = re.compile(r"^\s*(\w+) -> (\w+) ", re.M)


def nodes_of(dot):
    return [n for n in NODE.findall(dot.source) if n != "legend"]  # every drawing has a legend node


def edges_of(dot):
    return EDGE.findall(dot.source)


def label_of(dot, node_id):
    m = re.search(rf"^\s*{node_id} \[label=(<.*?>) ", dot.source, re.M)
    return re.sub(r"<[^<>]*>", " ", m.group(1)[1:-1]) if m else None


def leaf(shape, name=None, grad=True, seed=0):
    t = minigrad.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), requires_grad=grad)
    t.name = name
    return t


# ----------------------------------------------------------------------------- small known graphs


def test_small_graph_exact_nodes_edges_and_labels():
    a, b = leaf((3, 4), "a"), leaf((3, 4), "b", seed=1)
    c = leaf((3, 4), "c", grad=False, seed=2)
    y = (a * b + c).sum()
    dot = viz.to_dot(y)
    ids = nodes_of(dot)
    # 3 ops, 2 leaves, 1 constant, 2 tensors between ops, 1 output
    assert len(ids) == 9
    assert ids == ["leaf0", "leaf1", "op0", "op0_y0", "const2", "op1", "op1_y0", "op2", "op2_y0"]
    # data flow: each input into its op in argument order, then the op into its output
    assert edges_of(dot) == [
        ("leaf0", "op0"), ("leaf1", "op0"), ("op0", "op0_y0"),
        ("op0_y0", "op1"), ("const2", "op1"), ("op1", "op1_y0"),
        ("op1_y0", "op2"), ("op2", "op2_y0"),
    ]
    assert label_of(dot, "op0").split() == ["Mul"]
    assert label_of(dot, "op1").split() == ["Add"]
    assert label_of(dot, "op2").split()[0] == "Sum"
    assert label_of(dot, "leaf0").split() == ["a", "3x4", "float32"]
    assert label_of(dot, "const2").split() == ["c", "3x4", "float32"]
    assert label_of(dot, "op0_y0").split() == ["3x4", "float32"]
    assert label_of(dot, "op2_y0").split() == ["output", "scalar", "float32"]
    # leaves that require grad, constants and the output are styled differently
    styles = {i: re.search(rf"^\s*{i} \[.*?fillcolor=\"(#\w+)\"", dot.source, re.M).group(1)
              for i in ("leaf0", "const2", "op2_y0", "op0")}
    assert len(set(styles.values())) == 4
    assert 'style="filled,dashed"' in re.search(r"^\s*const2 \[.*$", dot.source, re.M).group(0)


def test_shared_subexpressions_are_drawn_once():
    x = leaf((2,), "x")
    h = x * x  # x feeds both inputs of one op
    y = h + h.exp()  # h used by two ops
    dot = viz.to_dot(y)
    assert nodes_of(dot).count("leaf0") == 1
    assert edges_of(dot).count(("leaf0", "op0")) == 2
    g = viz.build_graph(y)
    assert g.counts() == {"param": 1, "op": 3, "act": 2, "output": 1}
    assert sum(e.src == "op0_y0" for e in g.edges) == 2  # h -> Exp and h -> Add
    assert [n.title for n in g.nodes.values() if n.kind == "op"] == ["Mul", "Exp", "Add"]


def test_hidden_intermediates_move_shapes_to_edges():
    a, b = leaf((3, 4), "a"), leaf((4, 5), "b", seed=1)
    y = (a @ b).relu()
    dot = viz.to_dot(y, show_intermediates=False)
    assert len(nodes_of(dot)) == 5  # a, b, MatMul, ReLU, output
    assert edges_of(dot) == [("leaf0", "op0"), ("leaf1", "op0"), ("op0", "op1"), ("op1", "op1_y0")]
    assert re.search(r'op0 -> op1 \[.*label="3x5"', dot.source)


def test_op_params_and_names_from_params_mapping_and_name():
    w = leaf((2, 3), "ignored")
    v = leaf((3, 2), "v", seed=1)
    y = (w @ v).sum(dim=1, keepdim=True).permute(1, 0)
    dot = viz.to_dot(y, params={"layer.weight": w})
    assert label_of(dot, "leaf0").split()[0] == "layer.weight"  # params wins over .name
    assert label_of(dot, "leaf1").split()[0] == "v"  # .name
    sum_label = label_of(dot, "op1")
    assert "axis=(1,)" in sum_label and "keepdims=True" in sum_label
    assert "dims=(1, 0)" in label_of(dot, "op2")
    plain = viz.to_dot(y, show_shapes=False)
    assert "float32" not in plain.source.split("tooltip")[0] and label_of(plain, "leaf1").split() == ["v"]


def test_scalar_constants_show_their_value_and_freed_constants_their_shape():
    x = leaf((3,), "x")
    y = (x * 2.5) * minigrad.ones(3)  # the ones tensor is freed right away
    g = viz.build_graph(y)
    consts = [n for n in g.nodes.values() if n.kind in ("scalar", "const")]
    assert [(n.kind, n.title) for n in consts] == [("scalar", "2.5"), ("const", "const")]
    assert consts[1].lines == ["3 float32"]


def test_tooltips_carry_the_formulas_from_the_op_docstrings():
    a, b = leaf((2,), "a"), leaf((2,), "b", seed=1)
    dot = viz.to_dot(a * b)
    assert viz.forward_formula(ew.Mul) == ew.Mul.__doc__.strip().splitlines()[0] == "y = a * b"
    assert viz.backward_formula(ew.Mul) == ew.Mul.backward.__doc__.strip()
    tip = re.search(r'^\s*op0 \[.*tooltip="([^"]*)"', dot.source, re.M).group(1)
    assert tip.startswith("Mul: y = a * b\\nbackward: da = gy * b;  db = gy * a")


def test_node_ids_are_stable_across_calls_and_rebuilt_graphs():
    def build():
        a, b = leaf((2, 3), "a"), leaf((3,), "b", seed=1)
        return ((a * b).exp() + b).mean()

    y = build()
    assert viz.to_dot(y).source == viz.to_dot(y).source
    assert viz.to_dot(y).source == viz.to_dot(build()).source


def test_outputs_that_are_leaves_and_graphs_not_recorded():
    a = leaf((2,), "a")
    dot = viz.to_dot(a)
    assert nodes_of(dot) == ["leaf0"] and edges_of(dot) == []
    with minigrad.no_grad():
        y = a * 2
    g = viz.build_graph(y)
    assert g.note.startswith("no graph was recorded")
    assert "no graph was recorded" in viz.to_dot(y).source


def test_several_outputs_are_drawn_together():
    a = leaf((2,), "a")
    h = a.exp()
    y1, y2 = h.sum(), h * 3
    g = viz.build_graph(y1, y2)
    outs = [n.title for n in g.nodes.values() if n.kind == "output"]
    assert outs == ["output 0", "output 1"]
    assert g.counts() == {"param": 1, "op": 3, "act": 1, "output": 2, "scalar": 1}  # Exp drawn once


def test_bad_arguments():
    with pytest.raises(TypeError, match="to_dot: outputs must be Tensors"):
        viz.to_dot(np.ones(3))
    with pytest.raises(ValueError, match="to_dot: collapse_depth"):
        viz.to_dot(leaf((2,), "a") * 2, collapse_depth=-1)
    with pytest.raises(ValueError, match="render: cannot tell the format"):
        viz.render(leaf((2,), "a") * 2, path="graph.jpeg")


def test_walk_is_iterative_for_long_chains():
    n = 3 * sys.getrecursionlimit()
    x = leaf((2,), "x")
    y = x
    for _ in range(n):
        y = y * 1.0
    ops = viz.topological_ops([y])
    assert len(ops) == n and ops[0].next[0][0] is x and ops[-1] is y.grad_fn
    g = viz.build_graph(y, show_intermediates=False)
    assert g.counts() == {"param": 1, "scalar": n, "op": n, "output": 1}
    assert len(viz.to_dot(y, backward=True).body) > n


# ----------------------------------------------------------------------------- micrograd style, backward


def test_values_and_gradients_for_tiny_graphs():
    a, b = minigrad.tensor(2.0, requires_grad=True), minigrad.tensor(-3.0, requires_grad=True)
    a.name, b.name = "a", "b"
    e = a * b
    e.name = "e"
    e.retain_grad()
    loss = e.tanh()
    loss.backward()
    dot = viz.to_dot(loss, show_values=True)
    assert "rankdir=LR" in dot.source
    # de = 1 - tanh(-6)**2 = 2.46e-05;  da = de * b = -7.37e-05
    assert re.search(r"<b>a</b></td><td>data 2</td><td>grad -7\.3\d\de-05</td>", dot.source)
    assert re.search(r"<b>e</b></td><td>data -6</td><td>grad 2\.4\d\de-05</td>", dot.source)
    assert label_of(dot, "op0").split() == ["*"] and label_of(dot, "op1").split() == ["tanh"]


def test_backward_graph_exact_nodes_edges_and_saved_arrays():
    a, b = leaf((3, 4), "a"), leaf((3, 4), "b", seed=1)
    y = (a * b).sum()
    y.name = "L"
    dot = viz.to_dot(y, backward=True)
    # the seed, 2 backward ops (from the output back), 2 leaves
    assert nodes_of(dot) == ["grad0", "op1", "op0", "leaf0", "leaf1"]
    assert edges_of(dot) == [("grad0", "op1"), ("op1", "op0"), ("op0", "leaf0"), ("op0", "leaf1")]
    assert label_of(dot, "grad0").split() == ["dL/dL", "=", "1"]
    assert label_of(dot, "op1").split()[0] == "SumBackward"
    # MulBackward reads a and b, saved by the forward: named by Mul.saved_names, with shape and bytes
    assert label_of(dot, "op0").split() == ["MulBackward", "a:", "3x4", "float32,", "48", "B", "b:", "3x4",
                                            "float32,", "48", "B"]
    assert viz.build_graph(y, backward=True).saved_bytes == 96  # the total saved for backward
    assert re.search(r'op0 -> leaf1 \[.*label="db 3x4"', dot.source)
    assert "grad" not in label_of(dot, "leaf0")

    y.backward()
    after = viz.to_dot(y, backward=True)
    assert label_of(after, "op0").split() == ["MulBackward", "(saved", "arrays", "freed", "by", "backward)"]
    norm = float(np.linalg.norm(b.numpy()))  # d(sum(a*b))/da = b
    assert f"grad norm {norm:.4g}" in label_of(after, "leaf0")
    assert f"grad norm {norm:.4g}" in label_of(viz.to_dot(y), "leaf0")  # forward drawings too


class _Undeclared(autograd.Function):
    """y = 2 * x  (declares no saved_names: drawings fall back to positions)"""

    def forward(self, x):
        self.save_for_backward(x * 1, x)
        return 2 * x

    def backward(self, gy):
        """dx = 2 * gy"""
        return 2 * gy


def test_backward_graph_lists_saved_arrays_once_and_unknown_ones_by_position():
    x = leaf((2,), "x")
    g = viz.build_graph(x * x, backward=True)
    assert g.nodes["op0"].saved == ["a, b = x: 2 float32, 8 B"]  # one array saved twice: one row
    assert g.saved_bytes == 8 and g.saved_arrays == 1
    h = leaf((2,), "x").exp()  # Exp saves its output y
    assert viz.build_graph(h, backward=True).nodes["op0"].saved == ["y: 2 float32, 8 B"]
    z = leaf((2,), "x").exp() * 1.0  # the output of Exp is freed: its declared name still says what it is
    assert viz.build_graph(z, backward=True).nodes["op0"].saved == ["y: 2 float32, 8 B"]
    w = leaf((2,), "w", seed=3)
    u = _Undeclared.apply(w)
    rows = viz.build_graph(u, backward=True).nodes["op0"].saved
    assert rows == ["saved[0]: 2 float32, 8 B", "x = w: 2 float32, 8 B"]  # by position, or the input's name


# ----------------------------------------------------------------------------- modules


class Lin(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.weight = nn.Parameter(minigrad.ones(o, i))
        self.bias = nn.Parameter(minigrad.zeros(o))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class Norm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(minigrad.ones(n))
        self.register_buffer("running_mean", minigrad.zeros(n))

    def forward(self, x):
        return (x - self.running_mean) * self.weight


class Act(nn.Module):
    def forward(self, x):
        return x.relu()


class Block(nn.Module):
    """Shaped like torchvision's BasicBlock: one `relu` module called twice."""

    def __init__(self, n):
        super().__init__()
        self.conv1, self.bn1, self.relu = Lin(n, n), Norm(n), Act()
        self.conv2, self.bn2 = Lin(n, n), Norm(n)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class Net(nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.conv1 = Lin(3, n)
        self.layer1 = nn.Sequential(Block(n), Block(n))
        self.fc = Lin(n, 2)

    def forward(self, x):
        return self.fc(self.layer1(self.conv1(x)))


def cluster_labels(dot):
    return re.findall(r'subgraph cluster_\d+ \{\n\s*graph \[label="([^"]*)"', dot.source)


def test_module_clusters_have_dotted_names():
    net = Net()
    x = minigrad.ones(2, 3)
    dot = viz.to_dot(net(x), group_modules=True)
    labels = cluster_labels(dot)
    assert labels[:6] == ["Net", "conv1: Lin", "layer1: Sequential", "layer1.0: Block", "layer1.0.conv1: Lin",
                          "layer1.0.bn1: Norm"]
    assert "layer1.0.relu: Act" in labels and "layer1.0.relu: Act (call 2)" in labels
    assert "layer1.1.bn2: Norm" in labels and labels[-1] == "fc: Lin"
    assert len(labels) == 1 + 1 + 1 + 2 * (1 + 6) + 1
    # parameters and buffers sit in their module's cluster, named by their short name there
    bn1 = dot.source.split('label="layer1.0.bn1: Norm"')[1].split("subgraph")[0]
    assert re.search(r"<b>running_mean</b>", bn1) and re.search(r"<b>weight</b>", bn1)
    assert 'tooltip="layer1.0.bn1.running_mean' in bn1
    # without clusters, leaves get the full dotted names
    flat = viz.to_dot(net(x))
    assert "<b>layer1.1.conv2.weight</b>" in flat.source and "subgraph" not in flat.source


def test_module_scope_recording_adds_no_nodes():
    net = Lin(3, 2)
    x = minigrad.ones(2, 3)
    y_mod = net(x)
    y_raw = x @ net.weight.T + net.bias  # the same ops, outside any module call
    assert autograd.current_scope() == ()
    ops_mod, ops_raw = viz.topological_ops([y_mod]), viz.topological_ops([y_raw])
    expected = ["PermuteBackward", "MatMulBackward", "AddBackward"]
    assert [f.name for f in ops_mod] == [f.name for f in ops_raw] == expected
    assert all(f.scope == (net,) for f in ops_mod) and all(f.scope == () for f in ops_raw)
    g_mod, g_raw = viz.build_graph(y_mod), viz.build_graph(y_raw)
    assert g_mod.counts() == g_raw.counts() and len(g_mod.edges) == len(g_raw.edges)
    assert "subgraph" not in viz.to_dot(y_mod).source


def test_collapse_modules_at_a_depth():
    net = Net()
    y = net(minigrad.ones(2, 3))
    g = viz.build_graph(y, group_modules=True, collapse_depth=2)
    mods = [n.title for n in g.nodes.values() if n.kind == "module"]
    assert mods == ["conv1", "layer1.0", "layer1.1", "fc"]
    assert g.counts() == {"const": 1, "module": 4, "act": 3, "output": 1}
    fc = next(n for n in g.nodes.values() if n.title == "fc")
    assert fc.lines == ["Lin", "10 params"]
    dot = viz.to_dot(y, group_modules=True, collapse_depth=2, show_intermediates=False)
    assert cluster_labels(dot) == ["Net", "layer1: Sequential"]
    assert len(nodes_of(dot)) == 6 and len(edges_of(dot)) == 5
    whole = viz.build_graph(y, collapse_depth=0)
    assert whole.counts() == {"const": 1, "module": 1, "output": 1}
    y.sum().backward()  # then a folded module shows the norm of its parameters' gradients
    fc = next(n for n in viz.build_graph(y, collapse_depth=1).nodes.values() if n.title == "fc")
    norm = np.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum()) for p in net.fc.parameters()))
    assert fc.lines == ["Lin", "10 params", f"grad norm {norm:.4g}"]


def test_backward_graph_with_module_clusters():
    net = Net()
    y = net(minigrad.ones(2, 3)).sum()
    dot = viz.to_dot(y, backward=True, group_modules=True)
    labels = cluster_labels(dot)
    assert labels[0] == "Net" and "layer1.1.bn2: Norm" in labels
    assert "<b>MatMulBackward</b>" in dot.source


def test_resnet18_clusters_with_torchvision_names():
    model = nn.models.resnet18(num_classes=10, small_input=True)
    y = model(minigrad.randn(2, 3, 8, 8))
    dot = viz.to_dot(y, group_modules=True)
    labels = cluster_labels(dot)
    assert labels[:4] == ["ResNet", "conv1: Conv2d", "bn1: BatchNorm2d", "relu: ReLU"]
    names = {label.split(":")[0] for label in labels}
    for name in ("layer1", "layer1.0", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.bn2", "layer2.0.downsample",
                 "layer2.0.downsample.0", "layer2.0.downsample.1", "layer4.1.conv2", "avgpool", "fc"):
        assert name in names, name
    assert "layer1.0.relu: ReLU (call 2)" in labels
    # each BatchNorm's parameters and running statistics are lines of its op node (module views fold them)
    bn = dot.source.split('label="layer3.1.bn2: BatchNorm2d"')[1].split("subgraph")[0]
    assert 'fillcolor="#ececec"' not in bn and "<b>weight</b>" not in bn
    assert "params weight, bias: 256" in bn and "buffers running_mean, running_var: 256" in bn
    assert "layer3.1.bn2.running_var" in bn  # in the op's tooltip
    # unfolded: grey buffer boxes in its cluster
    unfolded = viz.to_dot(y, group_modules=True, fold_params=False)
    bn = unfolded.source.split('label="layer3.1.bn2: BatchNorm2d"')[1].split("subgraph")[0]
    assert bn.count('fillcolor="#ececec"') == 2 and 'tooltip="layer3.1.bn2.running_var' in bn
    # folded into blocks: the architecture, with the shape between stages
    blocks = viz.build_graph(y, group_modules=True, collapse_depth=2)
    mods = [n.title for n in blocks.nodes.values() if n.kind == "module"]
    assert mods == ["conv1", "bn1", "relu", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1",
                    "layer4.0", "layer4.1", "avgpool", "fc"]
    out_of = {e.src: e.dst for e in blocks.edges}
    layer11 = next(n.id for n in blocks.nodes.values() if n.title == "layer1.1")
    assert blocks.nodes[out_of[layer11]].lines == ["2x64x8x8 float32"]  # after layer1


# ----------------------------------------------------------------------------- rendering


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert viz.find_dot() is None


def test_render_dot_source_without_graphviz(no_dot, tmp_path):
    y = (leaf((2,), "a") * 2).sum()
    path = viz.render(y, path=tmp_path / "g.dot", group_modules=True)
    text = open(path, encoding="utf-8").read()
    assert text == viz.to_dot(y, group_modules=True).source
    assert text.startswith("digraph minigrad {") and "<b>Mul</b>" in text


def test_missing_dot_error_says_how_to_install(no_dot, tmp_path):
    y = leaf((2,), "a") * 2
    with pytest.raises(viz.GraphvizNotFoundError, match=r"Graphviz's `dot` program was not found") as err:
        viz.render(y, path=tmp_path / "g.svg")
    msg = str(err.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install", ".dot"):
        assert hint in msg
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_render_svg_is_valid_and_has_formula_tooltips(tmp_path):
    net = Net()
    y = net(minigrad.ones(2, 3)).sum()
    path = viz.render(y, path=tmp_path / "net.svg", group_modules=True)
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "MatMul" in text and "layer1.0.bn1: Norm" in text
    titles = [a.get("{http://www.w3.org/1999/xlink}title") for a in root.iter("{http://www.w3.org/2000/svg}a")]
    assert any(t and t.startswith("MatMul: y = a @ b\nbackward: da = gy @ b^T") for t in titles)
    png = viz.render(viz.to_dot(y, backward=True), path=tmp_path / "net.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_command_line_writes_a_drawing(tmp_path, capsys):
    from minigrad.viz.__main__ import main

    out = tmp_path / "neuron.dot"
    assert main(["neuron", "--out", str(out)]) == 0
    text = out.read_text()
    assert "<b>w1</b></td><td>data -3</td><td>grad 1</td>" in text and "tanh" in text
    assert "wrote" in capsys.readouterr().out
    assert os.path.getsize(out) > 0
