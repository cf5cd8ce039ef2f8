"""The embedded local stack (tansu broker + redis-server) for development and tests.

Heavy to import (confluent-kafka, redis): CLI modules import it inside functions.
"""

from __future__ import annotations

from services.stack.local import LocalStack, ServiceStatus, StackStatus, StackUp

__all__ = ["LocalStack", "ServiceStatus", "StackStatus", "StackUp"]
