"""ResNet18, built exactly like torchvision's ``resnet18`` (He et al., 2016).

    x -> conv1 -> bn1 -> relu -> maxpool                      (stem: 7x7/2 conv, 3x3/2 max-pool)
      -> layer1 (64) -> layer2 (128, /2) -> layer3 (256, /2) -> layer4 (512, /2)
      -> avgpool (global average) -> flatten -> fc             (logits)

Each ``layerK`` is two ``BasicBlock``s:  y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
where the shortcut is the identity, or a 1x1 strided conv + BatchNorm (``downsample``) when the
block changes the resolution or the channel count. Shapes for a 3x224x224 image:

    conv1/maxpool 64x112x112 -> 64x56x56;  layer1 64x56x56;  layer2 128x28x28;
    layer3 256x14x14;  layer4 512x7x7;  avgpool 512x1x1;  fc num_classes

Attribute names, their assignment order and the initialisation follow torchvision, so that
``state_dict()`` keys (``layer2.0.downsample.0.weight`` ...) and their order are the same and
torchvision weights exported to ``.npz`` load unchanged; 11,689,512 parameters at 1000 classes.

``small_input=True`` is for 8x8 to 32x32 images (digits, CIFAR): the stem becomes a 3x3 stride-1
conv (padding 1, no bias) and ``maxpool`` an ``Identity``, so the first stage keeps the full
resolution instead of dividing it by 4.
"""
from .. import init
from ..containers import Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Identity, Linear, MaxPool2d, ReLU
from ..module import Module

__all__ = ["BasicBlock", "ResNet", "resnet18"]


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution, padding 1 (keeps the size at stride 1), no bias (a BatchNorm follows)."""
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution: the projection shortcut."""
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(Module):
    """y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

    ``downsample`` (a module or None) maps ``x`` to the output's shape when ``stride != 1`` or the
    channel count changes; otherwise the shortcut is ``x`` itself.
    """

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(Module):
    """logits = fc(flatten(avgpool(layer4(layer3(layer2(layer1(maxpool(relu(bn1(conv1(x))))))))))

    ``block`` is the residual block class (``BasicBlock``), ``layers`` the number of blocks per
    stage (``[2, 2, 2, 2]`` for ResNet18). ``zero_init_residual=True`` starts each block's last
    BatchNorm at weight 0, so that every block begins as the identity (torchvision's option).
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3, small_input=False,
                 zero_init_residual=False):
        super().__init__()
        self.inplanes = 64
        if small_input:
            self.conv1 = Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(64)
        self.relu = ReLU()
        self.maxpool = Identity() if small_input else MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * block.expansion, num_classes)

        # torchvision's initialisation; fc keeps Linear's default (uniform +-1/sqrt(fan_in)).
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d):
                init.constant_(m.weight, 1)
                init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        """One stage: the first block may change resolution/width, the others keep it."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                BatchNorm2d(planes * block.expansion),
            )
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return Sequential(*stage)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x).flatten(1)
        return self.fc(x)


def resnet18(num_classes=1000, in_channels=3, small_input=False):
    """ResNet18: four stages of two ``BasicBlock``s (64, 128, 256, 512 channels).

    ``in_channels=1`` for grayscale; ``small_input=True`` for 8x8 to 32x32 images (see the module
    docstring). 11,689,512 parameters with the default 1000 classes and 3 input channels.
    """
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, in_channels=in_channels,
                  small_input=small_input)
