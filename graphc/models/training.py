"""compile / fit / evaluate / predict, as Keras 3 has them, on the NumPy executor.

This layer knows nothing about individual ops: it batches data, runs the executor's
forward and backward passes, applies the optimizer to the contiguous weight buffer, keeps
the running means that the progress bar and History show, and calls the callbacks.
"""

from __future__ import annotations

import numbers

import numpy as np

from graphc import _args
from graphc.errors import ArgumentTypeError, InputDataError
from graphc.interrupts import armed, atomic
from graphc.layers.base import flatten_struct, map_struct
from graphc.models import _data

__all__ = ["Trainer"]


class _Compiled:
    """What ``compile`` resolved: one loss (or None) and metrics per output. What depends
    on the outputs is resolved once the model is built (a Sequential without an input
    shape builds on its first batch, as in Keras)."""

    def __init__(self, model, optimizer, loss, metrics, loss_weights, weighted_metrics=None):
        from graphc import optimizers as optimizers_mod

        if weighted_metrics and not isinstance(weighted_metrics, (list, tuple, dict)):
            # Keras's CompileMetrics refuses a bare metric (graphc's metrics= takes one).
            raise ValueError(
                "Expected `weighted_metrics` argument to be a list, tuple, or dict. Received "
                f"instead: weighted_metrics={weighted_metrics} of type "
                f"{type(weighted_metrics)}"
            )
        self.optimizer = optimizers_mod.get(optimizer)
        self._spec = (loss, metrics, loss_weights, weighted_metrics)
        self.output_names = None
        self.metrics = None  # built on first data, when shapes are known
        if model.built:
            self.resolve(model)

    def resolve(self, model):
        from graphc import losses as losses_mod

        if self.output_names is not None:
            return
        loss, metrics, loss_weights, weighted_metrics = self._spec
        names = model.output_names
        subclassed = getattr(model, "_subclassed", False)
        if subclassed and isinstance(loss, dict) and not isinstance(model.output, dict):
            # Keras 3 fails here too (a TypeError from inside its CompileLoss).
            raise TypeError(
                f"Model {model.name!r} is a subclassed model: its outputs have no names, so "
                f"`loss` cannot be a dict (received loss={loss}); pass a list with one "
                f"loss per output, in the order `call` returns them."
            )
        self.losses = [
            losses_mod.get(each) if each is not None else None
            for each in per_output(loss, names, "loss")
        ]
        if all(each is None for each in self.losses) and not _has_added_losses(model):
            raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'.")
        weights = (
            per_output(loss_weights, names, "loss_weights")
            if loss_weights is not None
            else [1.0] * len(names)
        )
        for w in weights:
            if w is not None and (
                isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w)
            ):
                raise ArgumentTypeError(
                    f"Model.compile(): each of `loss_weights` must be a finite number, "
                    f"received {w!r} of type {type(w).__name__}; pass e.g. "
                    f"loss_weights=[1.0, 0.5] (one per output) or a dict keyed by output "
                    f"name."
                )
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        self._metric_specs = per_output_metrics(metrics, names)
        self._weighted_specs = per_output_metrics(weighted_metrics, names)
        self.output_names = names
        # Keras names a subclassed model's outputs nothing: its logs name each output's
        # loss after the loss and its metrics without a prefix (CompileLoss/CompileMetrics
        # with output_names=None).
        self.named_outputs = not subclassed and model._named_outputs
        self.loss_keys = _loss_keys(self.losses, names if self.named_outputs else None)

    def build_metrics(self, outputs, ys):
        """``self.metrics``: ``(key, metric, weighted, output index)`` in Keras's order
        (the ``metrics=`` of each output, then the ``weighted_metrics=``), keys named as
        Keras's ``CompileMetrics.result`` names them."""
        from graphc import metrics as metrics_mod

        if self.metrics is not None:
            return
        prefixes = (
            self.output_names
            if self.named_outputs and len(self.output_names) > 1
            else [None] * len(self.output_names)
        )
        built, seen = [], {}
        for weighted, all_specs in ((False, self._metric_specs), (True, self._weighted_specs)):
            for i, specs in enumerate(all_specs):
                for spec in specs:
                    m = metrics_mod.get(
                        spec,
                        loss=self.losses[i],
                        y_true_shape=None if ys is None else ys[i].shape,
                        y_pred_shape=outputs[i].shape,
                    )
                    key = _metric_key(m.name, prefixes[i], weighted, seen)
                    built.append((key, m, weighted, i))
        self.metrics = built

    def log_names(self):
        """Keras's ``_flatten_metrics_in_order``: the order of ``evaluate``'s list. The
        model's metric names (the loss, each compiled metric's own name, each output's
        loss) that are log keys first, then the other keys sorted."""
        names = (
            ["loss"]
            + [m.name for _, m, _, _ in self.metrics or []]
            + [k for k in self.loss_keys if k is not None]
        )
        return names


def _computed_from(value, inputs, known):
    """Whether every graph input ``value`` depends on is in ``inputs`` (ids); ``known``
    caches the answer per value id (iterative)."""
    stack = [value]
    while stack:
        v = stack[-1]
        if id(v) in known:
            stack.pop()
            continue
        if v.producer is None:
            known[id(v)] = v.kind != "input" or id(v) in inputs
            stack.pop()
            continue
        pending = [u for u in v.producer.inputs if id(u) not in known]
        if pending:
            stack.extend(pending)
            continue
        known[id(v)] = all(known[id(u)] for u in v.producer.inputs)
        stack.pop()
    return known[id(value)]


def _has_added_losses(model):
    """Whether a layer of ``model`` added a loss in a symbolic call (``add_loss``)."""
    return any(layer.__dict__.get("_symbolic_losses") for layer in model._all_layers())


def _loss_keys(losses, output_names):
    """Each output's loss key, as Keras's CompileLoss: ``"<name>_loss"`` when more than
    one output has a loss, the name being the output's, or (``output_names`` None: a
    subclassed model) the loss's own (``"mse"`` for ``loss="mse"``,
    ``"mean_squared_error"`` for ``MeanSquaredError()``). Equal keys share one entry,
    the last output's value."""
    if sum(each is not None for each in losses) < 2:
        return [None] * len(losses)
    return [
        None
        if each is None
        else f"{output_names[i] if output_names is not None else each.name}_loss"
        for i, each in enumerate(losses)
    ]


def _metric_key(name, prefix, weighted, seen):
    """A metric's log key, as Keras's ``CompileMetrics.result``: ``<output>_<name>``
    (no prefix for one output or a subclassed model); a repeated key gets ``_1``,
    ``_2``...; a weighted metric whose key is taken becomes ``weighted_<name>``."""
    key = f"{prefix}_{name}" if prefix else name
    if key not in seen:
        seen[key] = 1
        return key
    if not weighted:
        index = seen[key]
        seen[key] += 1
        return f"{key}_{index}"
    key = f"{prefix}_weighted_{name}" if prefix else f"weighted_{name}"
    if key not in seen:
        seen[key] = 1
        return key
    index = seen[key]
    seen[key] += 1
    return f"{key}_{index}"


def per_output(value, names, what):
    """One entry per output from a single value, a list, or a dict keyed by output name
    (what ``compile`` accepts for loss and loss_weights; ``Runtime.evaluate`` too)."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"{what} has keys {unknown} that are not output names; the "
                f"model's outputs are {names}."
            )
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"{what} has {len(value)} entries but the model has {len(names)} outputs {names}."
            )
        return list(value)
    return [value] * len(names)


def per_output_metrics(metrics, names):
    """A list of metric specs per output: a flat list applies to every output."""
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        rows = per_output(metrics, names, "metrics")
        return [
            [] if r is None else (list(r) if isinstance(r, (list, tuple)) else [r]) for r in rows
        ]
    if isinstance(metrics, (list, tuple)):
        if (
            len(names) > 1
            and metrics
            and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        ):
            return [list(m or []) for m in per_output(list(metrics), names, "metrics")]
        return [list(metrics) for _ in names]
    return [[metrics] for _ in names]


class _Running:
    """Sums for running means weighted by batch size (what the bar and History show)."""

    def __init__(self, losses):
        self.loss, self.count = 0.0, 0
        self.outputs = [0.0 if each is not None else None for each in losses]

    def add(self, total, per_output, size):
        self.loss += total * size
        self.count += size
        self.outputs = [
            None if s is None else s + v * size for s, v in zip(self.outputs, per_output)
        ]


class _ArrayBatches:
    """Arrays cut into batches of ``batch_size`` rows, shuffled each epoch if asked:
    the interface of ``_data.DatasetBatches``."""

    def __init__(self, xs, ys, sw, n, batch_size, shuffle):
        self.xs, self.ys, self.sw, self.n = xs, ys, sw, n
        self.batch_size, self.shuffle = batch_size, shuffle
        self.steps_per_epoch = -(-n // batch_size)

    def begin_epoch(self, restart=False):
        return self._epoch()

    def _epoch(self):
        from graphc import rng as grandom

        # Rows are gathered batch by batch: a shuffled copy of the whole epoch would
        # stream every input through memory and push the weights out of the cache.
        # The permutation is drawn at the first batch, after on_epoch_begin.
        perm = grandom.generator().permutation(self.n) if self.shuffle else None
        n, size = self.n, self.batch_size
        for step in range(self.steps_per_epoch):
            rows = slice(step * size, min(n, (step + 1) * size))
            count = rows.stop - rows.start
            if perm is not None:
                rows = perm[rows]
            yield (
                step,
                (
                    _data.take(self.xs, rows),
                    _data.take(self.ys, rows),
                    self.sw[rows] if self.sw is not None else None,
                    count,
                ),
            )


def _verbose(verbose, where="Model"):
    if isinstance(verbose, (bool, np.bool_)):  # Keras's verbose=True prints the bar
        return int(verbose)
    return _args.verbose(verbose, where)


class Trainer:
    """Mixed into ``Model``: the training entry points."""

    _compiled = None
    stop_training = False
    # False: logs name each output's loss after the loss and give metrics no output
    # prefix (a subclassed model, or its reloaded copy; see _Compiled.resolve).
    _named_outputs = True

    # ---- set-up --------------------------------------------------------------------
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        loss_weights=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
    ):
        """Choose optimizer, loss(es) and metrics (strings, objects, lists or dicts keyed
        by output name), as ``keras.Model.compile``. ``weighted_metrics`` are metrics
        that, unlike ``metrics``, receive the sample and class weights; one named like a
        ``metrics`` entry is logged as ``weighted_<name>``."""
        where = "Model.compile()"
        _args.boolean(run_eagerly, "run_eagerly", where)
        _args.positive_int(steps_per_execution, "steps_per_execution", where, "1")
        if not (jit_compile == "auto" and isinstance(jit_compile, str)):
            _args.boolean(jit_compile, "jit_compile", where)
        _args.boolean(auto_scale_loss, "auto_scale_loss", where)
        self._compiled = _Compiled(self, optimizer, loss, metrics, loss_weights, weighted_metrics)
        self._store = None

    @property
    def optimizer(self):
        return self._compiled.optimizer if self._compiled else None

    @property
    def metrics_names(self):
        """Keras's ``model.metrics_names``: ``"loss"``, ``"compile_metrics"`` when
        ``compile`` had metrics, then each output's loss key (several outputs with a
        loss); empty before ``compile``."""
        c = self._compiled
        if c is None:
            return []
        _, metrics, _, weighted = c._spec
        names = ["loss"] + (["compile_metrics"] if metrics or weighted else [])
        for key in getattr(c, "loss_keys", None) or []:
            if key is not None and key not in names:
                names.append(key)
        return names

    def _require_compiled(self):
        if self._compiled is None:
            raise ValueError(
                "You must call `compile()` before using the model for training "
                "or evaluation, e.g. model.compile(optimizer='rmsprop', "
                "loss='categorical_crossentropy')."
            )

    def _executor(self, trainable=None, with_masks=False):
        """The executor of the model's graph. ``with_masks`` (training, evaluation): its
        ``forward`` also returns the Keras mask of each output that has one, after the
        outputs (``split_masks`` pairs them up); predict runs the graph alone."""
        from graphc.backends.numpy import Executor
        from graphc.ir import Graph
        from graphc.layers.base import get_keras_mask

        graph = self.graph
        trainable = self.trainable_weights if trainable is None else trainable
        masks = [get_keras_mask(v) for v in graph.outputs] if with_masks else []
        added = self._added_loss_values(graph) if with_masks else []
        attr = "_exec_cache_masked" if added or any(m is not None for m in masks) else "_exec_cache"
        cached = getattr(self, attr, None)
        if cached is None or cached[0] is not graph or cached[1] != trainable:
            run = graph
            if attr == "_exec_cache_masked":
                # A mask no layer reads (Dense passes it on) is not in the model's graph,
                # nor an add_loss() value (a branch that leads to no output).
                run = Graph.from_outputs(
                    graph.inputs,
                    list(graph.outputs) + [m for m in masks if m is not None] + added,
                    graph.name,
                )
                if not getattr(self, "_subclassed", False):
                    from graphc.models._topology import keras_node_order

                    run.nodes = keras_node_order(run)
            # The layers with activity regularizers are fixed with the graph.
            activity = self._activity_outputs(run)
            ex = Executor(run, trainable, [v for _, v, _ in activity])
            ex.activity = activity
            ex.n_outputs = len(graph.outputs)
            setattr(self, attr, (graph, trainable, ex))
        return getattr(self, attr)[2]

    def generated_source(self):
        """The Python that ``fit`` and ``predict`` run for this model's graph, generated
        once from its plan: the training forward pass, the backward pass and the
        inference forward pass (``graphc.backends.numpy.Executor.source``). For reading
        and debugging; e.g. ``print(model.generated_source())``."""
        return self._executor(with_masks=True).source()

    @staticmethod
    def split_masks(ex, results):
        """``(outputs, masks)`` from a forward pass of ``_executor(with_masks=True)``:
        one mask (a boolean array, or None) per output."""
        outputs, extra = results[: ex.n_outputs], iter(results[ex.n_outputs :])
        masks = [None] * len(outputs)
        if len(results) > len(outputs):
            from graphc.layers.base import get_keras_mask

            masks = [
                None if get_keras_mask(v) is None else next(extra)
                for v in ex.graph.outputs[: ex.n_outputs]
            ]
        return outputs, masks

    def _added_loss_values(self, graph):
        """The ``add_loss`` values of this model's layers that ``graph``'s inputs
        compute (a layer called in another model added others)."""
        values = [
            v
            for layer in self._all_layers()
            for v in layer.__dict__.get("_symbolic_losses", ())
            if np.dtype(v.dtype).kind == "f"
        ]
        if not values:
            return []
        inputs = {id(v) for v in graph.inputs}
        known, out = {}, []
        for v in values:
            if _computed_from(v, inputs, known):
                out.append(v)
        return out

    def _activity_outputs(self, graph):
        """``(layer, value)`` for each output of each call, in this graph, of a layer that
        has an ``activity_regularizer`` (Keras penalises every call's outputs)."""
        produced = {v for node in graph.nodes for v in node.outputs}
        # add_loss() values recorded in this graph: their sum joins the training loss.
        added = [
            (layer, v, "added")
            for layer in self._all_layers()
            for v in layer.__dict__.get("_symbolic_losses", ())
            if v in produced and np.dtype(v.dtype).kind == "f"
        ]
        found = [
            (layer, v)
            for layer in self._all_layers()
            if getattr(layer, "activity_regularizer", None) is not None
            for _, outs in layer._calls
            for v in flatten_struct(outs)
        ]
        if not found:
            return added
        missing = {layer.name for layer, _ in found} - {
            layer.name for layer, v in found if v in produced
        }
        if missing:
            # A model called as a layer replays its graph on new tensors: the inner layers'
            # outputs in this graph are not the ones their calls recorded.
            raise NotImplementedError(
                f"Model {self.name!r}: the activity_regularizer of layer(s) "
                f"{sorted(missing)} cannot be applied here: they run inside a nested model, "
                "and graphc applies activity regularizers only to layers called directly "
                "in the model being trained."
            )
        return added + [
            (layer, v, "activity")
            for layer, v in found
            if v in produced and np.dtype(v.dtype).kind == "f"
        ]

    # ---- regularization ------------------------------------------------------------
    def _weight_rules(self, store):
        """The trainable weights that have a regularizer, and those that have a
        constraint: found once per parameter store, since walking every layer on each
        batch would cost more than a small model's whole step."""
        cached = getattr(self, "_rules", None)
        if cached is None or cached[0] is not store:
            cached = self._rules = (store, self._regularized_weights(), self._constrained_weights())
        return cached[1], cached[2]

    def _weight_penalty(self, store=None):
        """The sum of the weight regularization penalties; with ``store``, also add
        their gradients to its gradient buffer (NumPy, on the current weights)."""
        from graphc.models.regularization import penalty_and_gradient

        total = 0.0
        regularized = (
            self._weight_rules(store)[0] if store is not None else self._regularized_weights()
        )
        for p, reg in regularized:
            value, grad = penalty_and_gradient(reg, p, need_grad=store is not None)
            total += float(np.sum(value))
            if store is not None and p in store.grad_views:
                store.grad_views[p] += grad
        return total

    def _activity_penalty(self, ex, arrays, need_grad=False):
        """The sum of the activity penalties on ``arrays`` (the executor's watched
        values, in order) and, for training, each one's gradient. Each layer keeps the
        values, as Keras's ``layer.losses`` shows the last call's."""
        total, grads = 0.0, []
        if not ex.activity:
            return total, grads
        from graphc.models.regularization import activity_penalty

        for layer, _, kind in ex.activity:
            layer.__dict__["_activity_losses" if kind == "activity" else "_added_losses"] = []
        for (layer, _, kind), y in zip(ex.activity, arrays):
            if kind == "added":  # Keras's _aggregate_additional_loss: its sum
                value = np.sum(y, dtype=np.float64)
                grad = np.ones_like(y) if need_grad else None
                layer._added_losses.append(np.asarray(value, dtype=np.float32))
            else:
                value, grad = activity_penalty(layer.activity_regularizer, y, need_grad)
                layer._activity_losses.append(value)
            total += float(np.sum(value))
            grads.append(grad)
        return total, grads

    def _apply_constraints(self, store):
        """As Keras's optimizer: after each step, each constrained trainable weight is
        replaced by its projection."""
        for p, con in self._weight_rules(store)[1]:
            p.assign(np.asarray(con(p.data), dtype=p.dtype))

    def _param_store(self, trainable=None):
        """The contiguous buffer of trainable weights, (re)built when the set changes."""
        from graphc.backends.numpy import ParamStore

        trainable = self.trainable_weights if trainable is None else trainable
        store = getattr(self, "_store", None)
        if store is None or not store.owns(trainable):
            new = ParamStore(trainable)
            opt = self._compiled.optimizer
            # Optimizers that factor per variable (Adafactor) read the shapes.
            opt._var_shapes = [tuple(p.shape) for p in new.params]
            opt._var_paths = [p.path for p in new.params]  # Muon's embedding rule
            if store is None or not opt.built:
                opt.build(new.values, new.segments)
            else:  # the trainable set changed: keep the state of the weights that stay
                old_at = dict(zip(store.params, store.segments))
                moved = [
                    (old_at[p], seg) for p, seg in zip(new.params, new.segments) if p in old_at
                ]
                opt.rebuild(new.values, new.segments, moved)
            self._store = store = new
        return store

    # ---- data ----------------------------------------------------------------------
    def _standardize(self, x, y=None, sample_weight=None, class_weight=None, need_y=True):
        self._ensure_built_for(x)
        if self._compiled is not None:
            self._compiled.resolve(self)
        xs = _data.to_arrays(x, self.input_names, "inputs")
        if xs is None:
            raise InputDataError("x is required.")
        xs = _data.check_against(xs, self.inputs, "inputs", self.name)
        ys = None
        no_loss = self._compiled is not None and all(
            each is None for each in getattr(self._compiled, "losses", [0])
        )
        if need_y and not (y is None and no_loss):  # add_loss() alone needs no targets
            if y is None:
                raise InputDataError(
                    "y is required for training and evaluation; pass the targets as y=."
                )
            ys = _data.to_arrays(y, self.output_names, "outputs")
            losses = self._compiled.losses if self._compiled else [None] * len(ys)
            for name, a, v, loss in zip(self.output_names, ys, self.outputs, losses):
                _data.check_target(name, a, v, loss)
        sw = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float32)
        if class_weight is not None:
            if len(self.outputs) > 1:
                raise InputDataError(
                    "class_weight is only supported for models with a "
                    "single output (as in Keras); use sample_weight."
                )
            cw = _data.class_weight_to_sample_weight(ys[0], class_weight)
            sw = cw if sw is None else sw * cw
        groups = {"x": xs, "y": ys, "sample_weight": [sw] if sw is not None else None}
        n = _data.num_rows(groups)
        if n == 0:
            raise InputDataError(
                f'Input "{self.input_names[0]}" has no rows; there is '
                "nothing to train on, evaluate or predict."
            )
        return xs, ys, sw, n

    def _ensure_built_for(self, x):
        """A Sequential model without an input shape builds from its first data."""
        if not self.built or getattr(self, "_input_value", True) is None:
            if isinstance(x, dict):
                x = next(iter(x.values()))
            elif isinstance(x, (list, tuple)) and x and isinstance(x[0], np.ndarray):
                x = x[0]
            self._maybe_build(np.asarray(x))

    # ---- one batch -----------------------------------------------------------------
    def _losses(self, outputs, ys, sw, masks, need_grad=False):
        """Total weighted loss, each output's loss, and (for training) the gradients of
        the total with respect to each output. An output's mask leaves its masked
        entries out of its loss, as Keras's ``Loss.__call__`` does with ``y_pred``'s."""
        c = self._compiled
        total, per_output, grads = 0.0, [], []
        for i, (loss, w) in enumerate(zip(c.losses, c.loss_weights)):
            if loss is None:
                per_output.append(None)
                grads.append(None)
                continue
            if need_grad:
                value, g = loss.value_and_grad(ys[i], outputs[i], sw, mask=masks[i])
                grads.append(g if w == 1.0 else g * np.asarray(w, dtype=g.dtype))
            else:
                value = loss(ys[i], outputs[i], sample_weight=sw, mask=masks[i])
            total += w * float(value)
            per_output.append(float(value))
        return total, per_output, grads

    def _train_batch(self, ex, store, ctx, xs, ys, sw):
        """One training step, all or nothing: Ctrl-C is held back until the step ends
        (``graphc.interrupts.atomic``), and an exception before the optimizer's update
        (a kernel, a loss) puts back the moving statistics the forward pass changed, so
        the weights, the optimizer's slots and ``iterations`` are always those of one
        step count. As Keras (its torch trainer has no check), a non-finite loss still
        updates the weights; the first such step warns (``TerminateOnNaN`` stops)."""
        with atomic():
            state = _state_params(ex)
            saved = [p.data.copy() for p in state]
            try:
                total, per_output, outputs, masks, regularized = self._forward_backward(
                    ex, store, ctx, xs, ys, sw
                )
            except BaseException:
                for p, old in zip(state, saved):
                    p.data[...] = old
                raise
            if regularized:
                total += self._weight_penalty(store)
            if np.isfinite(total):
                self._compiled.optimizer.apply(store.grads)
            else:
                self._warn_non_finite(total)
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    self._compiled.optimizer.apply(store.grads)
            self._apply_constraints(store)
        return total, per_output, outputs, masks

    def _forward_backward(self, ex, store, ctx, xs, ys, sw):
        watched = []
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            results, env = ex.forward(xs, ctx, keep_for_backward=True, watched=watched)
            outputs, masks = self.split_masks(ex, results)
            total, per_output, grads = self._losses(outputs, ys, sw, masks, need_grad=True)
            # Keras's compute_loss: the regularization penalties go to the total only.
            activity, activity_grads = self._activity_penalty(ex, watched, need_grad=True)
            total += activity
            regularized = bool(self._weight_rules(store)[0])
            if regularized:
                # A weight missing from the graph gets no gradient from backward: start at 0.
                in_graph = set(ex.trainable)
                for p in store.params:
                    if p not in in_graph:
                        store.grad_views[p].fill(0)
            ex.backward(env, grads, store.grad_views, activity_grads)
        return total, per_output, outputs, masks, regularized

    def _warn_non_finite(self, total):
        """Warn once per model (as long as the loss stays non-finite, once in all)."""
        if getattr(self, "_warned_non_finite", False):
            return
        self._warned_non_finite = True
        import warnings

        warnings.warn(
            f"Model {self.name!r}: the training loss is {total}; as Keras does, the "
            f"optimizer step was applied anyway, so the weights may now be NaN or "
            f"infinite. Pass callbacks=[graphc.callbacks.TerminateOnNaN()] to stop "
            f"training after the first such batch, or lower the learning rate / check "
            f"the data for huge or missing values. (Warned once per model.)",
            UserWarning,
            stacklevel=4,
        )

    def _build_metrics(self, ex, xs, ys):
        """Metrics are resolved once, from the shapes of a one-row prediction (as many
        rows as a model with a fixed batch size takes: an imported ONNX model)."""
        from graphc.ops import ExecContext

        if self._compiled.metrics is None:
            fixed = [v.shape[0] for v in self.inputs if v.shape and v.shape[0] is not None]
            n = fixed[0] if fixed else 1
            # (a probe, not a call of the model: the variables its layers assign in
            # call, a counter, are put back)
            state = _state_params(ex)
            saved = [p.data.copy() for p in state]
            first = ex.forward([a[:n] for a in xs], ExecContext(training=False))
            for p, old in zip(state, saved):
                p.data[...] = old
            self._compiled.build_metrics(
                first[: ex.n_outputs], None if ys is None else [a[:n] for a in ys]
            )

    def _update_metrics(self, outputs, ys, masks, sw=None):
        """As Keras 3: sample and class weights reach the loss and ``weighted_metrics``,
        not ``metrics=``; an output's mask reaches both (see
        ``metrics.update_state_with_mask``)."""
        from graphc.metrics import update_state_with_mask

        for _, m, weighted, i in self._compiled.metrics:
            update_state_with_mask(m, ys[i], outputs[i], masks[i], sw if weighted else None)

    def _reset_metrics(self):
        for _, m, _, _ in self._compiled.metrics or []:
            m.reset_state()

    def _logs(self, running: "_Running"):
        """Logs as Keras 3 shows them: running means over the epoch so far, keys sorted
        (Keras's ``pythonify_logs``). Built in Keras's order (loss, metrics, each
        output's loss) so that a repeated key keeps the value Keras keeps: the last."""
        logs = {"loss": running.loss / running.count}
        c = self._compiled
        for key, m, _, _ in c.metrics:
            logs[key] = float(m.result())
        for key, s in zip(c.loss_keys, running.outputs):
            if key is not None:
                logs[key] = s / running.count
        return dict(sorted(logs.items()))

    # ---- public API ----------------------------------------------------------------
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs`` epochs; returns a ``History``.

        ``x`` is arrays (a list or a dict of them for several inputs) with targets
        ``y``, or a dataset that yields batches ``(x, y)`` or ``(x, y, sample_weight)``:
        a re-iterable object (read once per epoch), a generator (read on across
        epochs; ``steps_per_epoch`` batches per epoch, else one pass) or a
        ``graphc.utils.PyDataset``. As in Keras, a dataset brings its own batches
        (``batch_size`` is not used), targets and sample weights (``y=`` and
        ``sample_weight=`` are refused), and is not shuffled (but a PyDataset's batch
        order is, with ``shuffle=True``). Example::

            model.fit(train_dataset, epochs=30, validation_data=validation_dataset)
        """
        from graphc import rng as grandom
        from graphc.callbacks import CallbackList
        from graphc.ops import ExecContext

        self._require_compiled()
        where = "Model.fit()"
        batch_size = (
            32 if batch_size is None else _args.positive_int(batch_size, "batch_size", where)
        )
        epochs = _args.non_negative_int(epochs, "epochs", where, "10")
        initial_epoch = _args.non_negative_int(initial_epoch, "initial_epoch", where)
        verbose = _verbose(verbose, where)
        _args.callbacks_list(callbacks, where)
        if validation_split is None:
            validation_split = 0.0
        validation_split = _args.fraction(validation_split, "validation_split", where)
        _args.boolean(shuffle, "shuffle", where)
        _args.mapping_or_none(class_weight, "class_weight", where, "{0: 1.0, 1: 5.0}")
        steps_per_epoch = _args.optional_positive_int(
            steps_per_epoch, "steps_per_epoch", where, "100"
        )
        validation_steps = _args.optional_positive_int(
            validation_steps, "validation_steps", where, "10"
        )
        validation_batch_size = _args.optional_positive_int(
            validation_batch_size, "validation_batch_size", where
        )
        validation_freq = _args.positive_int(validation_freq, "validation_freq", where, "1")
        if _data.is_dataset(x):
            # As Keras: batch_size is not used (the dataset makes the batches), shuffle
            # only reorders a PyDataset's batches, validation_split needs arrays.
            _data.refuse_with_dataset(x, y, sample_weight)
            if validation_split and validation_data is None:
                raise ValueError(
                    "Argument `validation_split` is only supported for "
                    "tensors or NumPy arrays. Found incompatible type in the "
                    f"input: {[type(x)]}"
                )
            source = _data.DatasetBatches(
                x,
                self._standardize_batch,
                steps=steps_per_epoch,
                shuffle=shuffle,
                class_weight=class_weight,
                rng=grandom.generator(),
            )
            pending = source.begin_epoch()  # builds a lazily built model
            sample = source.first
        else:
            xs, ys, sw, n = self._standardize(x, y, sample_weight, class_weight)
            if validation_data is None and validation_split:
                groups = {"x": xs, "y": ys, "sw": [sw] if sw is not None else None}
                train, held = _data.split_validation(groups, validation_split, n)
                xs, ys = train["x"], train["y"]
                sw = train["sw"][0] if train["sw"] else None
                n = xs[0].shape[0]
                validation_data = (held["x"], held["y"], held["sw"][0] if held["sw"] else None)
            source = _ArrayBatches(xs, ys, sw, n, batch_size, shuffle)
            pending, sample = None, (xs, ys, sw, n)
        val = None
        if validation_data is not None:
            val = self._validation_source(
                validation_data, validation_steps, validation_batch_size or batch_size
            )

        c = self._compiled
        trainable = self.trainable_weights  # walks every layer: once per call
        ex = self._executor(trainable, with_masks=True)
        store = self._param_store(trainable)
        ctx = ExecContext(training=True, rng=grandom.generator())
        cbs = CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=source.steps_per_epoch,
        )
        self.stop_training = False
        self._build_metrics(ex, sample[0], sample[1])

        guard = armed()  # Ctrl-C: held over each step, delivered between steps
        guard.__enter__()
        try:
            cbs.on_train_begin()
            # BackupAndRestore sets where an interrupted fit resumes, as in Keras.
            initial_epoch = getattr(self, "_initial_epoch", None) or initial_epoch
            logs = {}
            for epoch in range(initial_epoch, epochs):
                batches = pending if pending is not None else source.begin_epoch()
                pending = None
                if batches is None:  # a generator used up: Keras's warning was given
                    break
                self._reset_metrics()
                cbs.on_epoch_begin(epoch)
                running = _Running(c.losses)
                batch_logs = cbs.calls("on_train_batch_end")
                batch_begin = cbs.calls("on_train_batch_begin")
                for step, (bx, by, bsw, size) in batches:
                    if batch_begin:
                        cbs.on_train_batch_begin(step)
                    with atomic():  # the step and its running means: Ctrl-C waits for both
                        total, per_output, outputs, masks = self._train_batch(
                            ex, store, ctx, bx, by, bsw
                        )
                        running.add(total, per_output, size)
                        if c.metrics:
                            self._update_metrics(outputs, by, masks, bsw)
                    if batch_logs:
                        logs = self._logs(running)
                        cbs.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                if running.count:
                    logs = self._logs(running)
                epoch_logs = dict(logs)
                if val is not None and (epoch + 1) % validation_freq == 0:
                    val_batches = val.begin_epoch(restart=True)
                    if val_batches is not None:
                        cbs.on_test_begin()
                        val_logs = self._evaluate_batches(val_batches, cbs=cbs)
                        cbs.on_test_end(val_logs)
                        epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                        self._reset_metrics()
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            if epochs > initial_epoch:
                c.optimizer.finalize_variable_values()  # use_ema: the averages become weights
            cbs.on_train_end(logs)
            return self.history
        finally:
            guard.__exit__(None, None, None)

    def _validation_source(self, data, steps, batch_size):
        """The batches of ``validation_data``: a dataset, or a tuple ``(x, y)`` or
        ``(x, y, sample_weight)`` of arrays."""
        if _data.is_dataset(data):
            return _data.DatasetBatches(data, self._standardize_batch, steps=steps)
        vx, vy, vsw = _unpack_validation(data)
        vx, vy, vsw, n = self._standardize(vx, vy, vsw)
        return _ArrayBatches(vx, vy, vsw, n, batch_size, shuffle=False)

    def _standardize_batch(self, x, y, sample_weight, class_weight=None, need_y=True):
        """One batch of a dataset as checked arrays ``(xs, ys, sw, rows)``; predict's
        batches may carry targets, which it does not read."""
        return self._standardize(
            x, y if need_y else None, sample_weight if need_y else None, class_weight, need_y=need_y
        )

    def _evaluate_arrays(self, xs, ys, sw, batch_size=32, cbs=None):
        n = xs[0].shape[0]
        batches = _ArrayBatches(xs, ys, sw, n, batch_size, shuffle=False).begin_epoch()
        return self._evaluate_batches(batches, cbs)

    def _evaluate_batches(self, batches, cbs=None):
        """The logs of a pass over ``batches`` (``(step, (xs, ys, sw, rows))``) in
        inference mode, calling the test-batch hooks of ``cbs``."""
        from graphc.ops import ExecContext

        ex = self._executor(with_masks=True)
        ctx = ExecContext(training=False)
        c = self._compiled
        self._reset_metrics()
        running = _Running(c.losses)
        logs = {}
        weight_penalty = self._weight_penalty()  # the weights do not change here
        for step, (bx, by, bsw, size) in batches:
            if c.metrics is None:
                self._build_metrics(ex, bx, by)
            if cbs:
                cbs.on_test_batch_begin(step)
            watched = []
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                outputs, masks = self.split_masks(ex, ex.forward(bx, ctx, watched=watched))
                total, per_output, _ = self._losses(outputs, by, bsw, masks)
                total += weight_penalty + self._activity_penalty(ex, watched)[0]
            running.add(total, per_output, size)
            self._update_metrics(outputs, by, masks, bsw)
            logs = self._logs(running)
            if cbs:
                cbs.on_test_batch_end(step, logs)
        return logs

    def _batches_for(self, x, y, sample_weight, batch_size, steps, need_y):
        """``(source, first epoch)`` for evaluate/predict: arrays are cut into batches
        of ``batch_size``; a dataset gives its own (``steps`` of them, if given)."""
        if _data.is_dataset(x):
            _data.refuse_with_dataset(x, y, sample_weight)
            standardize = (
                self._standardize_batch
                if need_y
                else (lambda bx, by, bsw, cw: self._standardize_batch(bx, by, bsw, cw, False))
            )
            source = _data.DatasetBatches(x, standardize, steps=steps)
            return source, source.begin_epoch()
        batch_size = 32 if batch_size is None else int(batch_size)  # checked by the caller
        xs, ys, sw, n = self._standardize(x, y, sample_weight, need_y=need_y)
        source = _ArrayBatches(xs, ys, sw, n, batch_size, shuffle=False)
        return source, source.begin_epoch()

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """Loss (and metrics) on data, in inference mode: with ``return_dict`` the logs
        (keys sorted, as Keras's); else the loss alone if it is the only value, otherwise
        a list in Keras's order (loss, each output's loss, the metrics by key). ``x`` may
        be a dataset of ``(x, y)`` or ``(x, y, sample_weight)`` batches (then ``steps``
        limits how many are read)."""
        from graphc.callbacks import CallbackList

        self._require_compiled()
        where = "Model.evaluate()"
        batch_size = _args.optional_positive_int(batch_size, "batch_size", where)
        steps = _args.optional_positive_int(steps, "steps", where, "10")
        verbose = _verbose(verbose, where)
        _args.callbacks_list(callbacks, where)
        _args.boolean(return_dict, "return_dict", where)
        source, batches = self._batches_for(x, y, sample_weight, batch_size, steps, True)
        cbs = CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=source.steps_per_epoch,
        )
        cbs.on_test_begin()
        logs = self._evaluate_batches(batches, cbs)
        cbs.on_test_end(logs)
        return _batch_result(logs, return_dict, self._compiled)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in inference mode, in the structure of the model's outputs.
        ``x`` may be a dataset whose batches are ``x`` alone, ``(x,)`` or ``(x, y)``
        (the targets are not read)."""
        from graphc.callbacks import CallbackList
        from graphc.ops import ExecContext

        where = "Model.predict()"
        batch_size = _args.optional_positive_int(batch_size, "batch_size", where)
        steps = _args.optional_positive_int(steps, "steps", where, "10")
        verbose = _verbose(verbose, where)
        _args.callbacks_list(callbacks, where)
        source, batches = self._batches_for(x, None, None, batch_size, steps, False)
        ex = self._executor()
        ctx = ExecContext(training=False)
        cbs = CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=source.steps_per_epoch,
        )
        cbs.on_predict_begin()
        gather = _PredictOutputs(source.n if isinstance(source, _ArrayBatches) else None)
        for step, (bx, _, _, _) in batches:
            cbs.on_predict_batch_begin(step)
            gather.add(ex.forward(bx, ctx))
            cbs.on_predict_batch_end(step, {})
        cbs.on_predict_end()
        lookup = dict(zip(self.outputs, gather.result(len(self.outputs))))
        return map_struct(lambda v: lookup[v], self.output)

    # ---- single batches ------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        from graphc import rng as grandom
        from graphc.ops import ExecContext

        self._require_compiled()
        _args.mapping_or_none(
            class_weight, "class_weight", "Model.train_on_batch()", "{0: 1.0, 1: 5.0}"
        )
        _args.boolean(return_dict, "return_dict", "Model.train_on_batch()")
        xs, ys, sw, _ = self._standardize(x, y, sample_weight, class_weight)
        trainable = self.trainable_weights
        ex = self._executor(trainable, with_masks=True)
        store = self._param_store(trainable)
        self._build_metrics(ex, xs, ys)
        self._reset_metrics()
        ctx = ExecContext(training=True, rng=grandom.generator())
        total, per_output, outputs, masks = self._train_batch(ex, store, ctx, xs, ys, sw)
        self._update_metrics(outputs, ys, masks, sw)
        running = _Running(self._compiled.losses)
        running.add(total, per_output, 1)
        logs = self._logs(running)
        return _batch_result(logs, return_dict, self._compiled)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled()
        _args.boolean(return_dict, "return_dict", "Model.test_on_batch()")
        xs, ys, sw, n = self._standardize(x, y, sample_weight)
        logs = self._evaluate_arrays(xs, ys, sw, batch_size=n)
        return _batch_result(logs, return_dict, self._compiled)

    def predict_on_batch(self, x):
        from graphc.ops import ExecContext

        xs, _, _, _ = self._standardize(x, need_y=False)
        outs = self._executor().forward(xs, ExecContext(training=False))
        lookup = dict(zip(self.outputs, outs))
        return map_struct(lambda v: lookup[v], self.output)


class _PredictOutputs:
    """``predict``'s outputs, batch after batch. With the number of rows known (arrays),
    each output is one array allocated at the first batch and filled in place, instead of
    a list of every batch's outputs concatenated at the end (twice the memory, one more
    pass over it). One batch alone is returned as computed; batches of unknown count (a
    dataset) or of varying trailing shape or dtype are concatenated."""

    def __init__(self, n_rows: int | None):
        self.n_rows = n_rows
        self.first = None  # the first batch's outputs, kept until a second comes
        self.arrays = None  # the preallocated outputs
        self.filled = 0
        self.chunks = None  # the fallback: every batch's outputs

    def add(self, outs) -> None:
        outs = list(outs)
        if self.chunks is not None:
            self.chunks.append(outs)
        elif self.first is None and self.arrays is None:
            self.first = outs
        elif self.arrays is None:
            first, self.first = self.first, None
            if self.n_rows is not None and self._fits(first, outs):
                self.arrays = [np.empty((self.n_rows,) + a.shape[1:], a.dtype) for a in first]
                self._put(first)
                self._put(outs)
            else:
                self.chunks = [first, outs]
        elif self._fits(self.arrays, outs) and self.filled + len(outs[0]) <= self.n_rows:
            self._put(outs)
        else:  # not what the first batches promised: concatenate from here on
            self.chunks = [[a[: self.filled] for a in self.arrays], outs]
            self.arrays = None

    @staticmethod
    def _fits(like, outs) -> bool:
        return len(like) == len(outs) and all(
            isinstance(o, np.ndarray)
            and o.ndim >= 1
            and o.shape[1:] == a.shape[1:]
            and o.dtype == a.dtype
            and len(o) == len(outs[0])
            for a, o in zip(like, outs)
        )

    def _put(self, outs) -> None:
        k = len(outs[0])
        for a, o in zip(self.arrays, outs):
            a[self.filled : self.filled + k] = o
        self.filled += k

    def result(self, n_outputs: int) -> list:
        if self.arrays is not None:
            if self.filled == self.n_rows:
                return self.arrays
            return [a[: self.filled] for a in self.arrays]
        if self.chunks is not None:
            return [np.concatenate([c[i] for c in self.chunks]) for i in range(n_outputs)]
        if self.first is not None:
            return self.first
        raise ValueError("predict() received no batch of data: the input has 0 steps.")


def _state_params(ex):
    """The parameters that stateful ops change: the non-trainable inputs of the ops
    updating in training (batch norm's moving statistics) and every variable a layer
    assigns in call (``assign``'s first input). What ``_train_batch`` puts back if the
    step fails."""
    cached = getattr(ex, "_state_params", None)
    if cached is None:
        trainable = set(ex.trainable)
        params = {s: v for s, v in ex.leaves if getattr(v, "data", None) is not None}
        ins = {i for step in ex.steps if step.stateful for i in step.ins}
        assigned = {step.ins[0] for step in ex.steps if step.op.update_in_inference}
        cached = ex._state_params = [
            v for s, v in params.items() if (s in ins and v not in trainable) or s in assigned
        ]
    return cached


def _batch_result(logs, return_dict, compiled):
    """The logs, or their values in the order of Keras's ``_flatten_metrics_in_order``
    (a name listed twice is given twice, as there); one value alone."""
    if return_dict:
        return logs
    names = compiled.log_names()
    values = [logs[n] for n in names if n in logs] + [v for k, v in logs.items() if k not in names]
    return values[0] if len(values) == 1 else values


def _unpack_validation(data):
    if isinstance(data, (list, tuple)):
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data[0], data[1], data[2]
    raise InputDataError(
        "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight)."
    )
