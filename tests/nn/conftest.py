import pytest
import torch


@pytest.fixture
def one_thread():
    """Numerics, not threading, are under test: one thread keeps these tiny products quick even on a
    busy machine, where a 2-thread parallel region can wait a whole scheduler slice per call."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
