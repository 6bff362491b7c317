"""rnnlab.reference as a package: pure numpy, and everything the issue lists importable from it."""

import subprocess
import sys

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
