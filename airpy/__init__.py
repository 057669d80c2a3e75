"""airpy: a private gRPC data-science service for a Go backend.

The generated protobuf stubs live apart from this hand-written package, in
generated/python/airpy/v1, and are reached as `airpy.v1`: extend_path adds every
`airpy` folder on sys.path (generated/python in a checkout) to this package's
path. In a wheel they are packed inside as airpy/v1.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
