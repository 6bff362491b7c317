"""The course's math in numpy: every forward with a hand-written backward, for checking and learning.

Nothing here imports torch. Functions follow the CS231n assignment-3 signatures and conventions
(batch-first, `out, cache = *_forward(...)`, `grads = *_backward(dout, cache)`, LSTM gates (i, f, o, g)
in one (D, 4H)/(H, 4H) weight); tests/reference checks each backward against finite differences and
each cell against the torch cells of `rnnlab.nn`, with `torch_layout` mapping the parameters.

Modules:
    gradient_check  eval_numerical_gradient, eval_numerical_gradient_array, rel_error, gradient_errors
    layers          sigmoid, affine, relu, softmax_loss, svm_loss, batchnorm, dropout
    rnn, lstm, gru  the cells, one step and a whole sequence (gru: both reset-gate placements)
    temporal        word embedding, temporal affine, temporal softmax loss
    attention       soft attention over L locations, dot and additive
    optim           update rules sgd ... adam
    captioning      CaptioningRNN (the assignment's model)
    char_model      CharRNN, CharVocabulary, random_windows: a character model trainable without torch
    solver          Solver, clip_global_norm
    scalar_graph    the lecture's gates (add, multiply, max, sigmoid) and step-by-step backprop
    torch_layout    course layout <-> PyTorch layout of cell parameters
"""

from rnnlab.reference.attention import (
    additive_attention_backward,
    additive_attention_forward,
    dot_attention_backward,
    dot_attention_forward,
)
from rnnlab.reference.captioning import CaptioningRNN
from rnnlab.reference.char_model import CharRNN, CharVocabulary, random_windows
from rnnlab.reference.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    gradient_errors,
    rel_error,
)
from rnnlab.reference.gru import (
    gru_backward,
    gru_cho_backward,
    gru_cho_forward,
    gru_cho_step_backward,
    gru_cho_step_forward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
)
from rnnlab.reference.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    softmax_loss,
    svm_loss,
)
from rnnlab.reference.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from rnnlab.reference.optim import UPDATE_RULES, adagrad, adam, nesterov, rmsprop, sgd, sgd_momentum
from rnnlab.reference.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from rnnlab.reference.scalar_graph import BackpropStep, Node, add, backward, maximum, multiply, variable
from rnnlab.reference.scalar_graph import sigmoid as sigmoid_gate
from rnnlab.reference.solver import Solver, clip_global_norm
from rnnlab.reference.temporal import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from rnnlab.reference.torch_layout import (
    course_from_torch,
    course_gradients_from_torch,
    reorder_gates,
    torch_from_course,
)

__all__ = [
    # gradient checks
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "rel_error",
    "gradient_errors",
    # layers and losses
    "sigmoid",
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "svm_loss",
    "batchnorm_forward",
    "batchnorm_backward",
    "dropout_forward",
    "dropout_backward",
    # recurrent cells
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "gru_cho_step_forward",
    "gru_cho_step_backward",
    "gru_cho_forward",
    "gru_cho_backward",
    # temporal layers
    "word_embedding_forward",
    "word_embedding_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "temporal_softmax_loss",
    # attention
    "dot_attention_forward",
    "dot_attention_backward",
    "additive_attention_forward",
    "additive_attention_backward",
    # update rules
    "sgd",
    "sgd_momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "UPDATE_RULES",
    # models and training
    "CaptioningRNN",
    "CharRNN",
    "CharVocabulary",
    "random_windows",
    "Solver",
    "clip_global_norm",
    # scalar computational graph
    "Node",
    "BackpropStep",
    "variable",
    "add",
    "multiply",
    "maximum",
    "sigmoid_gate",
    "backward",
    # layouts
    "course_from_torch",
    "torch_from_course",
    "course_gradients_from_torch",
    "reorder_gates",
]
