"""Drawings of whole models (minigrad.viz): the ResNet18 command line, block contents, skip labels,
folded BatchNorm parameters, named saved arrays, legends, gradient flow, and the lazy import."""
import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn
from minigrad import autograd, ops, viz
from minigrad.viz import gradflow
from minigrad.viz.__main__ import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def resnet18_224(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "resnet18.dot"
    assert main(["resnet18", "--out", str(out)]) == 0
    return out.read_text()


def test_cli_draws_torchvisions_resnet18_at_224_stage_by_stage(resnet18_224):
    text = resnet18_224
    assert "ResNet18 (torchvision) on a 1x3x224x224 input: 11,689,512 parameters" in text  # the title
    # the seed's diagram: each stage's output shape, in data-flow order
    stages = ["1x64x112x112", "1x64x56x56", "1x128x28x28", "1x256x14x14", "1x512x7x7"]
    where = [text.index(f">{s} float32<") for s in stages]
    assert where == sorted(where)
    assert "<b>logits</b><br/><font point-size=\"9\">1x1000 float32</font>" in text
    # one box per stage (and stem layer), each with its parameter count (torchvision's numbers)
    for name, params in (("conv1", "9,408"), ("layer1", "147,968"), ("layer2", "525,568"), ("layer3", "2,099,712"),
                         ("layer4", "8,393,728"), ("fc", "513,000")):
        assert re.search(rf"<b>{name}</b>.*?{params} params", text), name
    assert "2 x BasicBlock" in text and "downsample conv1x1/2 + BN" in text
    assert "3 -&gt; 64 ch, 7x7/2, pad 3" in text and "3x3/2, pad 1" in text  # stem conv and max-pool
    assert "<b>layer1.0</b>" not in text  # stage level: blocks are inside the stage boxes
    assert "<b>legend</b>" in text


def test_cli_small_input_depth_and_skip_labels(tmp_path):
    out = tmp_path / "small.dot"
    assert main(["resnet18", "--small-input", "--depth", "2", "--out", str(out)]) == 0
    text = out.read_text()
    assert "3x3 stem, no max-pool) on a 1x3x32x32 input" in text
    assert ">1x64x32x32 float32<" in text and ">1x512x4x4 float32<" in text
    # block boxes name their content
    block = re.search(r"<b>layer2\.0</b>(.*?)params", text).group(1)
    assert "conv3x3/2 -&gt; conv3x3" in block and "downsample conv1x1/2 + BN" in block
    assert "conv3x3 -&gt; conv3x3" in re.search(r"<b>layer2\.1</b>(.*?)params", text).group(1)
    # depth 3: the blocks open, their skip connections are labelled
    assert main(["resnet18", "--small-input", "--depth", "3", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count('label="identity"') == 5 and text.count('label="downsample"') == 3
    assert main(["resnet18", "--small-input", "--depth", "ops", "--out", str(out)]) == 0
    assert out.read_text().count("<b>Conv2d</b>") == 20


def test_skip_edges_are_labelled_in_op_views():
    block = nn.models.BasicBlock(4, 8, stride=2, downsample=nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False),
                                                                          nn.BatchNorm2d(8)))
    plain = nn.models.BasicBlock(4, 4)
    for b, label in ((block, "downsample"), (plain, "identity")):
        g = viz.build_graph(b(minigrad.randn(2, 4, 6, 6)), group_modules=True)
        skips = [e for e in g.edges if e.kind == "skip"]
        assert [e.label for e in skips] == [label]
        assert g.nodes[skips[0].dst].title == "Add"
    # no labels outside blocks: a plain sum of two tensors
    a = minigrad.randn(3, requires_grad=True)
    assert all(e.kind != "skip" for e in viz.build_graph(a + a.exp(), group_modules=True).edges)


def test_batchnorm_parameters_fold_into_its_op_in_module_views():
    minigrad.manual_seed(0)
    block = nn.models.BasicBlock(16, 16)
    y = block(minigrad.randn(2, 16, 4, 4))
    folded = viz.build_graph(y, group_modules=True)
    unfolded = viz.build_graph(y, group_modules=True, fold_params=False)
    assert folded.counts().get("buffer", 0) == 0 and unfolded.counts()["buffer"] == 4
    assert folded.counts()["param"] == 2 and unfolded.counts()["param"] == 6  # the convs' weights stay boxes
    bn = [n for n in folded.nodes.values() if n.title == "BatchNorm"]
    assert len(bn) == 2 and bn[0].lines[-2:] == ["params weight, bias: 16", "buffers running_mean, running_var: 16"]
    assert len(folded.nodes) < 0.75 * len(unfolded.nodes)
    everything = viz.build_graph(y, group_modules=True, fold_params="all")
    assert everything.counts().get("param", 0) == 0
    assert viz.build_graph(y).counts()["buffer"] == 4  # flat drawings keep every box by default
    with pytest.raises(ValueError, match="fold_params"):
        viz.build_graph(y, fold_params="some")


# ----------------------------------------------------------------------------- saved arrays


def _function_classes():
    seen = []
    for _, module in inspect.getmembers(ops, inspect.ismodule):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, autograd.Function) and cls.__module__.startswith("minigrad.ops") \
                    and not cls.__name__.startswith("_") and cls not in seen:
                seen.append(cls)
    return seen


def test_every_op_declares_the_names_of_what_it_saves():
    classes = _function_classes()
    assert len(classes) > 50
    for cls in classes:
        names = cls.__dict__.get("saved_names")
        assert isinstance(names, tuple) and all(isinstance(n, str) and n.isidentifier() for n in names), cls
        assert len(set(names)) == len(names), cls


@pytest.mark.cpu_only  # counts buffers by the identity of .base, which the simulated device re-creates
def test_resnet18_backward_names_every_saved_array_with_bytes_and_total():
    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=10, small_input=True)
    logits = model(minigrad.randn(2, 3, 8, 8))
    loss = F.cross_entropy(logits, minigrad.tensor(np.array([1, 7])))
    g = viz.build_graph(loss, backward=True, group_modules=True)
    rows = [r for n in g.nodes.values() for r in n.saved]
    assert len(rows) > 100 and not any("saved[" in r for r in rows)
    for fn in viz.topological_ops([loss]):  # no op saves more arrays than it names
        assert len(fn._saved) <= len(type(fn).saved_names), fn
    names = {r.split(":")[0] for r in rows}
    for name in ("col", "w_rows", "x", "mean", "inv_std", "y", "exp_x", "target"):
        assert any(n == name or n.startswith(name + " ") for n in names), name
    assert all(re.search(r", \d+(\.\d)? (B|KiB|MiB)$", r) for r in rows)
    # the total counts each buffer once (a ReLU's output is also the next conv's input)
    distinct = {}
    for fn in viz.topological_ops([loss]):
        for arr in fn._saved:
            if arr is not None and hasattr(arr, "nbytes"):
                owner = arr if arr.base is None else arr.base
                distinct[id(owner)] = max(distinct.get(id(owner), 0), arr.nbytes)
    assert g.saved_bytes == sum(distinct.values()) and g.saved_arrays == len(distinct)
    text = viz.to_dot(loss, backward=True).source
    assert f"saved for backward: {viz.labels.fmt_bytes(g.saved_bytes)} in {len(distinct)} arrays" in text


def test_mlp_target_is_drawn_by_its_name():
    drawing = viz.models.mlp()
    g = viz.build_graph(*drawing.outputs, group_modules=True)
    consts = [n.title for n in g.nodes.values() if n.kind == "const"]
    assert consts == ["x", "target"]
    back = viz.build_graph(*drawing.outputs, backward=True)
    rows = [r for n in back.nodes.values() for r in n.saved]
    assert any(r.startswith("target = target: 4 int64") or r.startswith("target: 4 int64") for r in rows)


# ----------------------------------------------------------------------------- legend, tooltips


def test_legend_on_every_drawing_and_module_tooltips():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    y = net(minigrad.randn(5, 3)).sum()
    for opts in (dict(), dict(group_modules=True), dict(backward=True), dict(group_modules=True, collapse_depth=1)):
        src = viz.to_dot(y, **opts).source
        assert "legend [label=" in src and "<b>legend</b>" in src, opts
        assert "legend" not in viz.to_dot(y, legend=False, **opts).source
    src = viz.to_dot(y, group_modules=True).source
    assert 'tooltip="Sequential: 26 parameters"' in src and 'tooltip="0: Linear: 16 parameters"' in src
    assert "cluster_" not in " ".join(re.findall(r'tooltip="([^"]*)"', src))
    legend = re.search(r"legend \[label=(<.*?>) shape", src).group(1)
    assert "parameter: a leaf that requires grad" in legend and "frame: an nn.Module call" in legend
    assert "backward op" not in legend  # only what the drawing holds
    assert "backward op" in viz.to_dot(y, backward=True).source


# ----------------------------------------------------------------------------- gradient flow


def test_grad_flow_gives_every_tensors_gradient_norm_from_a_scalar_loss():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 6), nn.Sigmoid(), nn.Linear(6, 3))
    x = minigrad.randn(5, 4)
    h1 = model[1](model[0](x))
    h2 = model[3](model[2](h1))
    logits = model[4](h2)
    for t in (h1, h2, logits):
        t.retain_grad()
    loss = F.cross_entropy(logits, minigrad.tensor(np.array([0, 1, 2, 0, 1])))
    g = viz.build_graph(loss, grad_flow=True)
    assert all(p.grad is None for p in model.parameters())  # grad_flow touches no .grad
    src = viz.to_dot(loss, grad_flow=True).source
    loss.backward()
    with pytest.raises(ValueError, match="freed by an earlier backward"):
        viz.to_dot(loss, grad_flow=True)
    by_shape = {}
    for n in g.nodes.values():
        if n.kind in ("act", "output"):
            assert n.grad is not None and n.lines[-1] == f"grad norm {viz.labels.fmt_number(n.grad)}"
            by_shape.setdefault(n.shape, []).append(n.grad)
    # the sigmoid outputs h1, h2 and the logits: the same norms as retain_grad() gives
    for t in (h1, h2, logits):
        assert any(np.isclose(v, np.linalg.norm(t.grad.numpy())) for v in by_shape[t.shape])
    drawn = [n.grad for n in g.nodes.values() if n.kind == "param"]
    assert np.allclose(drawn, [np.linalg.norm(p.grad.numpy()) for p in model.parameters()], rtol=1e-5)
    lo, hi = g.grad_range
    assert 0 < lo < hi
    assert "gradient norm ||d loss / d t|| (log scale" in src
    assert gradflow.PALETTE[0] in src and gradflow.PALETTE[-1] in src  # both ends of the colour scale used


def test_grad_flow_colours_on_a_log_scale_and_a_fixed_range():
    cols = [gradflow.colour(v, (1e-6, 1.0))[0] for v in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)]
    ranks = [gradflow.PALETTE.index(c) for c in cols]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == len(gradflow.PALETTE) - 1
    assert gradflow.colour(1e-3, (1e-6, 1.0)) == gradflow.colour(1e-3, (1e-6, 1.0))
    assert gradflow.colour(0.0, (1e-6, 1.0))[0] == "#dddddd"
    w = minigrad.randn(3, requires_grad=True)
    loss = (w * 2.0).sum()
    assert viz.build_graph(loss, grad_flow=True, grad_range=(1e-8, 1e2)).grad_range == (1e-8, 1e2)
    with pytest.raises(ValueError, match="grad_range"):
        viz.build_graph(loss, grad_flow=True, grad_range=(0, 1))


def test_grad_flow_needs_one_scalar_loss():
    w = minigrad.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"grad_flow: the output must be a scalar loss .*shape \(3,\)"):
        viz.to_dot(w * 2, grad_flow=True)
    with pytest.raises(ValueError, match="one scalar loss, got 2 outputs"):
        viz.to_dot(w.sum(), w.mean(), grad_flow=True)


def test_cli_grads_start_from_a_cross_entropy_loss(tmp_path):
    out = tmp_path / "flow.dot"
    assert main(["resnet18", "--small-input", "--grads", "--out", str(out)]) == 0
    text = out.read_text()
    assert "gradient flow from loss" in text and "<b>CrossEntropy</b>" in text and "<b>labels</b>" in text
    stages = re.findall(r"<b>layer(\d)</b>.*?output grad norm ([0-9.e+-]+)", text)
    assert [s for s, _ in stages] == ["1", "2", "3", "4"] and all(float(v) > 0 for _, v in stages)
    assert "grad norm 1<" in text  # d loss / d loss


# ----------------------------------------------------------------------------- optional graphviz


def test_import_minigrad_does_not_import_graphviz():
    code = ("import sys, minigrad, nn, minigrad.functional; "
            "assert 'graphviz' not in sys.modules and 'minigrad.viz' not in sys.modules; "
            "minigrad.viz.to_dot; assert 'minigrad.viz' in sys.modules; print('ok')")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_missing_graphviz_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    y = minigrad.randn(2, requires_grad=True) * 2
    with pytest.raises(ImportError, match=r"pip install 'minigrad\[viz\]'"):
        viz.to_dot(y)
    assert viz.build_graph(y).counts()["op"] == 1  # the drawing model itself needs no graphviz
