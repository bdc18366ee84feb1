"""A PBX simulator that speaks real AMI over TCP: scripted, generated and replayed call flows."""

from cti.sim.builder import IdSource, Step
from cti.sim.server import PbxSimulator
from cti.sim.wire import load_capture

__all__ = ["IdSource", "PbxSimulator", "Step", "load_capture"]
