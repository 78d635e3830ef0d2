"""fewerbits deployment driver: a self-contained package (numpy; pynq on the board).

Copied into every deployment package as ``deploy/driver/``::

    from driver import Accelerator
    acc = Accelerator("deploy", backend="pynq")      # or "python" / "rtlsim" off the board
    y = acc.execute(x)                               # x: (N, *acc.input_shape) uint8/float
    print(acc.throughput_test())
"""

from .accelerator import Accelerator
from .backends import BACKENDS, backend_unavailable, rtlsim_unavailable
from .errors import DriverError
from .settings import Settings, load_settings

__all__ = [
    "Accelerator",
    "BACKENDS",
    "backend_unavailable",
    "DriverError",
    "Settings",
    "load_settings",
    "rtlsim_unavailable",
]
