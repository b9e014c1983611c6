"""Weight files are loaded as tensors only; a pickled object is refused in one line, never run."""

import re

import pytest
import torch

from animatex.convert.core import TorchPickleSource
from animatex.errors import AnimatexError
from animatex.evaluation.weights import load_state_dict_file
from animatex.io.tensors import load_torch_file


class _RunsCode:
    def __reduce__(self):
        return (print, ("PAYLOAD RAN",))


@pytest.mark.parametrize("load", [load_torch_file, load_state_dict_file, TorchPickleSource])
def test_a_pickled_object_is_refused_without_running_it(tmp_path, capsys, load):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2), "payload": _RunsCode()}, path)
    with pytest.raises(AnimatexError) as error:
        load(path)
    message = str(error.value)
    assert message == (
        f"{path} holds pickled Python objects that could run code when loaded; animatex only loads tensors: use "
        "a safetensors copy of it or a file from a source you trust that holds only tensors"
    )
    assert "weights_only" not in message and "\n" not in message
    assert "PAYLOAD RAN" not in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [(b"", "is empty (0 bytes)"), (b"garbage", "is damaged")])
def test_empty_and_damaged_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    with pytest.raises(AnimatexError, match=re.escape(message)) as error:
        load_torch_file(path)
    assert "\n" not in str(error.value)


def test_a_state_dict_loads(tmp_path):
    torch.save({"weight": torch.ones(3)}, tmp_path / "ok.pt")
    assert torch.equal(load_torch_file(tmp_path / "ok.pt")["weight"], torch.ones(3))
