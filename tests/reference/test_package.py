"""rnnlab.reference as a package: pure numpy, and everything the issue lists importable from it."""

import ast
import subprocess
import sys
from pathlib import Path

import rnnlab.reference as reference

ISSUE_NAMES = """
rnn_step_forward rnn_step_backward rnn_forward rnn_backward word_embedding_forward word_embedding_backward
lstm_step_forward lstm_step_backward lstm_forward lstm_backward temporal_affine_forward
temporal_affine_backward temporal_softmax_loss sigmoid
gru_step_forward gru_step_backward gru_forward gru_backward
gru_cho_step_forward gru_cho_step_backward gru_cho_forward gru_cho_backward
dot_attention_forward dot_attention_backward additive_attention_forward additive_attention_backward
affine_forward affine_backward relu_forward relu_backward softmax_loss svm_loss
batchnorm_forward batchnorm_backward dropout_forward dropout_backward
sgd sgd_momentum nesterov adagrad rmsprop adam
CaptioningRNN CharRNN Solver
add multiply maximum sigmoid_gate backward variable
eval_numerical_gradient eval_numerical_gradient_array rel_error
""".split()


def test_everything_is_exported():
    assert set(ISSUE_NAMES) <= set(reference.__all__)
    for name in reference.__all__:
        assert getattr(reference, name) is not None, name


def test_importing_the_reference_does_not_import_torch():
    code = "import sys, rnnlab.reference; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_reference_imports_nothing_else_of_rnnlab():
    """rnnlab.reference stands alone: no import statement in it (lazy ones included) names rnnlab.nn or
    any other rnnlab package."""
    offending = []
    for path in sorted(Path(reference.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):  # relative: "." is rnnlab.reference, ".." above it
                names = ["." * node.level + (node.module or "")]
            else:
                continue
            for name in names:
                outside = name.split(".")[0] == "rnnlab" and not name.startswith("rnnlab.reference")
                if outside or name.startswith(".."):
                    offending.append(f"{path.name}: {name}")
    assert not offending
