"""PyTorch (torch.nn, eager) re-implementations of libfer's architectures.

Written from libfer's C++ sources (src/models/*.cpp) so that a .fermodel file's
weights load into them unchanged: every parameter and buffer has the name that
LibTorch gives it in the file's tensor table (e.g. "features.0.weight",
"body.2.down_bn.running_var", "fc.bias").

    from models import load_fermodel
    net, header = load_fermodel("models/default.fermodel")   # eval mode, fp32
    logits = net(x)    # x: N x C x H x W, already normalized ((pixel/255 - mean) / std)

Implemented: backbones small_cnn, resnet18, resnet34, resnet50, ir50, mobile_fer, acnn;
heads linear, cosine. Like libfer, the network takes normalized crops; the
header's input mean/std are applied by `normalize` (libfer: Model::prepare).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fermodel import read_fermodel


# --- options and helpers (src/models/zoo_common.cpp, torch_component.cpp) ----

def _opt(config, key, default, kind):
    v = config.get(key)
    return default if v is None else kind(v)


def _lround(x):
    """C's lround for non-negative x: halves round away from zero (Python's round() would go to even)."""
    return int(math.floor(x + 0.5))


def scaled_channels(base, width, divisor=1):
    return max(_lround(base * width / divisor) * divisor, divisor)


def stem_stride(input_size):
    return 2 if input_size >= 96 else 1


def conv2d(cin, cout, k, stride=1, groups=1, bias=False):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=bias)


def _conv_bn_relu(layers, cin, cout, batch_norm=True, stride=1):
    layers.append(conv2d(cin, cout, 3, stride, bias=not batch_norm))
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))


# --- small_cnn (src/models/small_cnn.cpp) -------------------------------------

class SmallCnn(nn.Module):
    """Three stages of two 3x3 conv-BN-ReLU and a 2x2 max-pool; pool=avg (global) or grid (3x3 + projection)."""

    def __init__(self, channels=1, width=1.0, norm="batch", pool="avg"):
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError("small_cnn norm must be batch or none")
        if pool not in ("avg", "grid"):
            raise ValueError("small_cnn pool must be avg or grid")
        bn = norm == "batch"
        c1, c2, c3 = int(32 * width), int(64 * width), int(128 * width)  # C++: int64_t(32 * width), truncating
        layers, cin = [], channels
        for cout in (c1, c2, c3):
            _conv_bn_relu(layers, cin, cout, bn)
            _conv_bn_relu(layers, cout, cout, bn)
            layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = pool
        if pool == "grid":
            self.feature_dim = 4 * c3
            self.project = nn.Linear(9 * c3, self.feature_dim)
            self.project_bn = nn.BatchNorm1d(self.feature_dim)
        else:
            self.feature_dim = c3

    def forward(self, x):
        y = self.features(x)
        if self.pool == "avg":
            return y.mean((2, 3))
        y = F.adaptive_avg_pool2d(y, (3, 3)).flatten(1)
        return F.relu(self.project_bn(self.project(y)))


# --- ResNet-18/34/50 and IR-50 (src/models/resnet.cpp, zoo_common.cpp) ----------

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv2d(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv2d(cout, cout, 3)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down_conv = self.down_bn = None
        if stride != 1 or cin != cout:
            self.down_conv = conv2d(cin, cout, 1, stride)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = self.down_bn(self.down_conv(x)) if self.down_conv is not None else x
        return F.relu(y + s)


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        cout = 4 * mid
        self.conv1 = conv2d(cin, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = conv2d(mid, mid, 3, stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv2d(mid, cout, 1)
        self.bn3 = nn.BatchNorm2d(cout)
        self.down_conv = self.down_bn = None
        if stride != 1 or cin != cout:
            self.down_conv = conv2d(cin, cout, 1, stride)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        s = self.down_bn(self.down_conv(x)) if self.down_conv is not None else x
        return F.relu(y + s)


class IrUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.bn0 = nn.BatchNorm2d(cin)
        self.conv1 = conv2d(cin, cout, 3)
        self.bn1 = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout)
        self.conv2 = conv2d(cout, cout, 3, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down_conv = self.down_bn = None
        if cin != cout:
            self.down_conv = conv2d(cin, cout, 1, stride)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = self.prelu(self.bn1(self.conv1(self.bn0(x))))
        y = self.bn2(self.conv2(y))
        if self.down_conv is not None:
            s = self.down_bn(self.down_conv(x))
        else:
            s = x if self.stride == 1 else x[:, :, ::self.stride, ::self.stride]
        return y + s


_RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "ir50": ("ir", (3, 4, 14, 3)),
}


class ResNet(nn.Module):
    """3x3 stem (stride 1 below 96 px) without max-pool, four stages, global average pool."""

    def __init__(self, arch, channels=1, input_size=48, width=1.0):
        super().__init__()
        unit, depth = _RESNETS[arch]
        base = scaled_channels(64, width)
        if unit == "ir":
            self.stem = nn.Sequential(conv2d(channels, base, 3), nn.BatchNorm2d(base), nn.PReLU(base))
        else:
            self.stem = nn.Sequential(conv2d(channels, base, 3, stem_stride(input_size)), nn.BatchNorm2d(base),
                                      nn.ReLU(inplace=True))
        blocks, cin = [], base
        for stage in range(4):
            w = base << stage
            for i in range(depth[stage]):
                stride = 1 if i > 0 else (2 if unit == "ir" else (1 if stage == 0 else 2))
                if unit == "basic":
                    blocks.append(BasicBlock(cin, w, stride))
                    cin = w
                elif unit == "bottleneck":
                    blocks.append(Bottleneck(cin, w, stride))
                    cin = 4 * w
                else:
                    blocks.append(IrUnit(cin, w, stride))
                    cin = w
        self.body = nn.Sequential(*blocks)
        self.out_bn = nn.BatchNorm2d(cin) if unit == "ir" else None
        self.feature_dim = cin

    def forward(self, x):
        y = self.body(self.stem(x))
        if self.out_bn is not None:
            y = self.out_bn(y)
        return y.mean((2, 3))


# --- mobile_fer (src/models/mobile_fer.cpp) -----------------------------------

class SqueezeExcite(nn.Module):
    def __init__(self, c, reduced):
        super().__init__()
        self.reduce = conv2d(c, reduced, 1, bias=True)
        self.expand = conv2d(reduced, c, 1, bias=True)

    def forward(self, x):
        return x * F.hardsigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))


class CoordAttention(nn.Module):
    def __init__(self, c, reduced):
        super().__init__()
        self.shared = conv2d(c, reduced, 1)
        self.bn = nn.BatchNorm2d(reduced)
        self.gate_h = conv2d(reduced, c, 1, bias=True)
        self.gate_w = conv2d(reduced, c, 1, bias=True)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        rows = x.mean(3, keepdim=True)                    # N x C x H x 1
        cols = x.mean(2, keepdim=True).transpose(2, 3)    # N x C x W x 1
        y = F.hardswish(self.bn(self.shared(torch.cat((rows, cols), 2))))
        y_h, y_w = torch.split(y, [h, w], 2)
        return x * torch.sigmoid(self.gate_h(y_h)) * torch.sigmoid(self.gate_w(y_w.transpose(2, 3)))


# hidden width, output channels, kernel, stride, gate, hard-swish (at width 1.0)
_MOBILE_BLOCKS = (
    (16, 16, 3, 1, "se", False),
    (64, 24, 3, 2, None, False),
    (72, 24, 3, 1, None, False),
    (96, 40, 5, 2, "se", True),
    (240, 40, 5, 1, "se", True),
    (240, 40, 5, 1, "coord", True),
    (120, 48, 5, 1, "se", True),
    (144, 48, 5, 1, "coord", True),
    (288, 96, 5, 2, "se", True),
    (576, 96, 5, 1, "coord", True),
    (576, 96, 5, 1, "coord", True),
)


class InvertedResidual(nn.Module):
    def __init__(self, cin, hidden, cout, kernel, stride, gate, hswish):
        super().__init__()
        self.residual = stride == 1 and cin == cout
        self.hswish = hswish
        self.expand = self.expand_bn = None
        if hidden != cin:
            self.expand = conv2d(cin, hidden, 1)
            self.expand_bn = nn.BatchNorm2d(hidden)
        self.depthwise = conv2d(hidden, hidden, kernel, stride, groups=hidden)
        self.depthwise_bn = nn.BatchNorm2d(hidden)
        self.se = SqueezeExcite(hidden, scaled_channels(hidden, 0.25, 8)) if gate == "se" else None
        self.coord = CoordAttention(hidden, max(8, hidden // 16)) if gate == "coord" else None
        self.project = conv2d(hidden, cout, 1)
        self.project_bn = nn.BatchNorm2d(cout)

    def _act(self, x):
        return F.hardswish(x) if self.hswish else F.relu(x)

    def forward(self, x):
        y = x
        if self.expand is not None:
            y = self._act(self.expand_bn(self.expand(y)))
        y = self._act(self.depthwise_bn(self.depthwise(y)))
        if self.se is not None:
            y = self.se(y)
        if self.coord is not None:
            y = self.coord(y)
        y = self.project_bn(self.project(y))
        return x + y if self.residual else y


class MobileFer(nn.Module):
    def __init__(self, channels=1, input_size=48, width=1.0):
        super().__init__()
        stem = scaled_channels(16, width, 8)
        self.stem = conv2d(channels, stem, 3, stem_stride(input_size))
        self.stem_bn = nn.BatchNorm2d(stem)
        blocks, cin = [], stem
        for expand, out, kernel, stride, gate, hswish in _MOBILE_BLOCKS:
            cout = scaled_channels(out, width, 8)
            blocks.append(InvertedResidual(cin, scaled_channels(expand, width, 8), cout, kernel, stride, gate, hswish))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = scaled_channels(576, width, 8)
        self.head = conv2d(cin, self.feature_dim, 1)
        self.head_bn = nn.BatchNorm2d(self.feature_dim)

    def forward(self, x):
        y = F.hardswish(self.stem_bn(self.stem(x)))
        y = F.hardswish(self.head_bn(self.head(self.blocks(y))))
        return y.mean((2, 3))


# --- acnn (src/models/acnn.cpp) ----------------------------------------------

class Acnn(nn.Module):
    """VGG-like trunk (stem, three stages of two conv-BN-ReLU and a max-pool), then channel
    attention (squeeze-excitation) and spatial attention pooling (a softmax over positions);
    attention=both|channel|spatial|none keeps or drops each (none: average pooling)."""

    def __init__(self, channels=1, input_size=48, width=1.0, attention="both"):
        super().__init__()
        if attention not in ("both", "channel", "spatial", "none"):
            raise ValueError("acnn attention must be both, channel, spatial or none")
        c0 = scaled_channels(32, width)
        layers, cin = [], c0
        _conv_bn_relu(layers, channels, c0, stride=stem_stride(input_size))
        for m in (2, 4, 8):
            _conv_bn_relu(layers, cin, c0 * m)
            _conv_bn_relu(layers, c0 * m, c0 * m)
            layers.append(nn.MaxPool2d(2))
            cin = c0 * m
        self.features = nn.Sequential(*layers)
        self.feature_dim = cin
        self.se_reduce = self.se_expand = self.spatial_hidden = self.spatial_score = None
        if attention in ("both", "channel"):
            squeezed = max(cin // 16, 4)
            self.se_reduce = conv2d(cin, squeezed, 1, bias=True)
            self.se_expand = conv2d(squeezed, cin, 1, bias=True)
        if attention in ("both", "spatial"):
            hidden = max(cin // 8, 4)
            self.spatial_hidden = conv2d(cin, hidden, 1, bias=True)
            self.spatial_score = conv2d(hidden, 1, 1)

    def attention_map(self, f):
        """N x H x W, each summing to 1 (None without spatial attention)."""
        if self.spatial_score is None:
            return None
        n, h, w = f.shape[0], f.shape[2], f.shape[3]
        score = self.spatial_score(F.relu(self.spatial_hidden(f))).view(n, h * w)
        return torch.softmax(score, 1).view(n, h, w)

    def forward(self, x):
        f = self.features(x)
        if self.se_reduce is not None:
            f = f * torch.sigmoid(self.se_expand(F.relu(self.se_reduce(f.mean((2, 3), keepdim=True)))))
        a = self.attention_map(f)
        if a is None:
            return f.mean((2, 3))
        return torch.bmm(f.flatten(2), a.flatten(1).unsqueeze(2)).squeeze(2)


# --- heads (src/models/heads.cpp) ---------------------------------------------

class LinearHead(nn.Module):
    def __init__(self, in_features, num_classes, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, f):
        return self.fc(self.dropout(f))


class CosineHead(nn.Module):
    def __init__(self, in_features, num_classes, dropout=0.0, scale=16.0):
        super().__init__()
        self.scale = scale
        self.dropout = nn.Dropout(dropout)
        self.weight = nn.Parameter(torch.randn(num_classes, in_features) / math.sqrt(in_features))

    def forward(self, f):
        x = F.normalize(self.dropout(f), dim=1)
        return self.scale * torch.matmul(x, F.normalize(self.weight, dim=1).t())


# --- building from a header ---------------------------------------------------

SUPPORTED_BACKBONES = ("small_cnn", "resnet18", "resnet34", "resnet50", "ir50", "mobile_fer", "acnn")
SUPPORTED_HEADS = ("linear", "cosine")


def build_backbone(name, config, channels, input_size):
    """`config`: the header's architecture options (string values, as in the file)."""
    if name == "small_cnn":
        return SmallCnn(channels, _opt(config, "width", 1.0, float), _opt(config, "norm", "batch", str),
                        _opt(config, "pool", "avg", str))
    if name in _RESNETS:
        return ResNet(name, channels, input_size, _opt(config, "width", 1.0, float))
    if name == "mobile_fer":
        return MobileFer(channels, input_size, _opt(config, "width", 1.0, float))
    if name == "acnn":
        return Acnn(channels, input_size, _opt(config, "width", 1.0, float), _opt(config, "attention", "both", str))
    raise NotImplementedError("no PyTorch re-implementation of architecture %r (have: %s)" %
                              (name, ", ".join(SUPPORTED_BACKBONES)))


def build_head(name, config, in_features, num_classes):
    dropout = _opt(config, "dropout", 0.0, float)
    if name == "linear":
        return LinearHead(in_features, num_classes, dropout)
    if name == "cosine":
        return CosineHead(in_features, num_classes, dropout, _opt(config, "scale", 16.0, float))
    raise NotImplementedError("no PyTorch re-implementation of head %r (have: %s)" % (name, ", ".join(SUPPORTED_HEADS)))


class FerNet(nn.Module):
    """extractor (backbone: N x C x H x W -> N x D features) + classifier (head: -> N x K logits)."""

    def __init__(self, extractor, classifier):
        super().__init__()
        self.extractor = extractor
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.extractor(x))

    def features(self, x):
        return self.extractor(x)


def _load_table(module, table, what):
    """Copies a file's tensor table into `module`, insisting on the same names and shapes (as libfer does)."""
    own = module.state_dict()
    missing = [k for k in own if k not in table]
    extra = [k for k in table if k not in own]
    if missing or extra:
        raise ValueError("%s: tensors differ from the file's; missing in the file: %s; only in the file: %s" %
                         (what, missing[:8], extra[:8]))
    state = {}
    for name, ref in own.items():
        a = table[name]
        if tuple(a.shape) != tuple(ref.shape):
            raise ValueError("%s: tensor %r has shape %s here, %s in the file" %
                             (what, name, tuple(ref.shape), tuple(a.shape)))
        state[name] = torch.from_numpy(np.ascontiguousarray(a)).to(ref.dtype)  # num_batches_tracked: float -> int64
    module.load_state_dict(state, strict=True)


def build_from_header(header):
    inp = header["input"]
    arch, head = header["architecture"], header["head"]
    extractor = build_backbone(arch["name"], arch.get("config", {}), int(inp["channels"]), int(inp["width"]))
    classifier = build_head(head["name"], head.get("config", {}), extractor.feature_dim, len(header["classes"]))
    return FerNet(extractor, classifier)


def load_fermodel(path):
    """Reads a .fermodel into a FerNet (eval mode, fp32); returns (net, header)."""
    header, ext, cls = read_fermodel(path)
    net = build_from_header(header)
    _load_table(net.extractor, ext, "extractor " + header["architecture"]["name"])
    _load_table(net.classifier, cls, "classifier " + header["head"]["name"])
    return net.eval(), header


def normalize(pixels01, header):
    """N x C x H x W pixels in [0, 1] -> the network's input ((x - mean) / std per channel, as Model::prepare)."""
    mean = torch.tensor(header["input"]["mean"], dtype=pixels01.dtype).view(1, -1, 1, 1)
    std = torch.tensor(header["input"]["std"], dtype=pixels01.dtype).view(1, -1, 1, 1)
    return (pixels01 - mean) / std
