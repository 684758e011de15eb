import inspect

import pytest
import torch

from practical_dl.models.networks import MLP, MODEL_REGISTRY, SimpLeNet, build_model, count_parameters
from practical_dl.models.options import ARCHITECTURE_OPTIONS, FROM_THE_DATA


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        # conv1 20*1*25+20, conv2 50*20*25+50, fc1 800*256+256, output 256*10+10
        ("simplenet", 520 + 25_050 + 205_056 + 2_570),
        ("fc64", 784 * 64 + 64 + 64 * 10 + 10),
        ("fc256_fc256", 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10),
    ],
)
def test_output_shape_and_parameter_count(name, parameters):
    model = build_model(name)
    assert count_parameters(model) == parameters
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_simplenet_has_the_lecture_layers():
    m = SimpLeNet()
    assert (m.conv1.in_channels, m.conv1.out_channels, m.conv1.kernel_size) == (1, 20, (5, 5))
    assert (m.conv2.in_channels, m.conv2.out_channels, m.conv2.kernel_size) == (20, 50, (5, 5))
    assert (m.fc1.in_features, m.fc1.out_features) == (800, 256)
    assert (m.output.in_features, m.output.out_features) == (256, 10)


def test_simplenet_runs_on_channels_last_input():
    m = SimpLeNet().to(memory_format=torch.channels_last)
    x = torch.randn(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(m(x), m(x.contiguous()))


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown model name 'lenet5'.*simplenet"):
        build_model("lenet5")


def test_options_batch_norm_and_dropout():
    m = build_model("simplenet", batch_norm=True, dropout=0.5)
    assert isinstance(m.bn1, torch.nn.BatchNorm2d) and isinstance(m.bn3, torch.nn.BatchNorm1d)
    m.eval()
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(m(x), m(x))  # dropout is off in evaluation mode
    mlp = MLP(hidden=(16,), dropout=0.5, batch_norm=True)
    assert any(isinstance(layer, torch.nn.Dropout) for layer in mlp.net)


def test_mlp_rejects_empty_hidden():
    with pytest.raises(ValueError, match="hidden"):
        MLP(hidden=())


def test_dropout_is_inverted_in_training_and_off_in_evaluation():
    torch.manual_seed(0)
    drop = build_model("mlp", hidden=(64,), dropout=0.5).net[1]
    x = torch.ones(10_000)
    drop.train()
    y = drop(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or scaled by 1 / (1 - p)
    assert abs(float(y.mean()) - 1.0) < 0.05
    drop.eval()
    assert torch.equal(drop(x), x)


def test_batch_norm_uses_frozen_statistics_in_evaluation():
    torch.manual_seed(0)
    model = build_model("simplenet", batch_norm=True)
    model.train()
    for _ in range(3):
        model(torch.randn(16, 1, 28, 28))  # updates the running statistics
    model.eval()
    running = model.bn1.running_mean.clone()
    x = torch.randn(4, 1, 28, 28)
    alone = model(x[:1])
    together = model(torch.cat([x[:1], 100 * x[1:]]))
    torch.testing.assert_close(alone, together[:1])  # a sample's output ignores the rest of the batch
    assert torch.equal(model.bn1.running_mean, running)  # and evaluation leaves the statistics alone


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("options", [{}, {"batch_norm": True, "dropout": 0.25}])
def test_simplenet_computes_the_lecture_order_to_the_bit(options, memory_format):
    """SimpLeNet applies ReLU after the max-pool (faster); the lecture's conv, ReLU, pool gives
    the same logits and the same gradients, bit for bit."""

    def lecture_logits(net, x):
        x = net.pool(torch.relu(net.bn1(net.conv1(x))))
        x = net.pool(torch.relu(net.bn2(net.conv2(x))))
        x = torch.relu(net.bn3(net.fc1(net.drop(torch.flatten(x, 1)))))
        return net.output(net.drop(x))

    torch.manual_seed(0)
    nets = [SimpLeNet(**options).to(memory_format=memory_format) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(32, 1, 28, 28).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (32,))
    results = []
    for net, forward in zip(nets, (lambda n, x: n(x), lecture_logits)):
        torch.manual_seed(1)  # the same dropout masks
        logits = forward(net, x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        results.append((logits, [p.grad for p in net.parameters()], list(net.buffers())))
    (ours, our_grads, our_buffers), (lecture, lecture_grads, lecture_buffers) = results
    assert torch.equal(ours, lecture)
    assert all(torch.equal(a, b) for a, b in zip(our_grads, lecture_grads))
    assert all(torch.equal(a, b) for a, b in zip(our_buffers, lecture_buffers))


def test_the_options_checked_without_torch_are_the_networks_own():
    assert set(ARCHITECTURE_OPTIONS) == set(MODEL_REGISTRY)
    for name, factory in MODEL_REGISTRY.items():
        taken = set(inspect.signature(factory).parameters) - {"self"} - FROM_THE_DATA if inspect.isclass(factory) else None
        assert ARCHITECTURE_OPTIONS[name] == taken, name
