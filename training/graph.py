"""The ONNX graph of emojinet: a cheap embedding of each tile's 2x2 quadrant means and a two-stage (cluster, then
members) nearest-class search with the argmax inside the graph. See models/README.md."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
NEG = -1e9
# the tolerance-0 search's parts: at most 24, of at least 288 tiles (exact_in_one_table)
EXACT_PARTS = (24, 288)
# stage 2's parts above tolerance 0: at most 24, of at most 864 tiles (stage2_capped_parts; the shipped file's
# stage 2 runs in blocks instead)
STAGE2_PARTS = (24, 864)
# stage 2's blocks of tiles of one prototype (stage2_blocked)
STAGE2_BLOCK = 16
# stage 1's MatMul with the biases inside it: 2 parts of at least 3072 tiles (stage1_matmul)
STAGE1_MATMUL = (2, 3072)


QUADS_DOC = ("the rounded 5x5 quadrant means of each tile's 10x10 patch (TL, TR, BL, BR; R, G, B), "
             "common.patch_quads / domain::quadrant_means")


def quads_input():
    """The graphs' tile input: u8 [N,12], QUADS_DOC."""
    return helper.make_tensor_value_info("quads", TensorProto.UINT8, ["N", 12])


def _tile_inputs(C, choice=False, budget=False, flat=False, black=False):
    """The inputs of the graphs with background and variety: quads, mask [C], background [N,3], position
    [N,2], tolerance [1]; with choice, choice [1] (1: each emoji is scored over the better of the
    background and black; 0: over the background); with budget, dark_budget [1] last (common.dark_budget
    of the whole frame: its tiles' summed detail per dark tile); with flat, frame_flat [1] after it (common.frame_flat
    of the whole frame: the share of its tiles near its median colour)."""
    return [quads_input(),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, [C]),
            helper.make_tensor_value_info("background", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("position", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("tolerance", TensorProto.FLOAT, [1])] + (
        [helper.make_tensor_value_info("choice", TensorProto.FLOAT, [1])] if choice else []) + (
        [helper.make_tensor_value_info("dark_budget", TensorProto.FLOAT, [1])] if budget else []) + (
        [helper.make_tensor_value_info("frame_flat", TensorProto.FLOAT, [1])] if flat else []) + (
        [helper.make_tensor_value_info("frame_black", TensorProto.FLOAT, [1])] if black else [])


def _index_output():
    return helper.make_tensor_value_info("index", TensorProto.INT64, ["N"])


def _model(nodes, inputs, outputs, inits, metadata):
    """The checked model of one graph, with the metadata as metadata_props."""
    g = helper.make_graph(nodes, "emojinet", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="emojicam-training")
    m.ir_version = 8
    for k, v in metadata.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    onnx.checker.check_model(m)
    return m


def build(A, a, E, centroids, members, metadata, batched="matmul"):
    """A [12,D], a [D]: embedding f = (2x2 means in 0..255, the quads input) @ A + a.
    E [C,D]: class embeddings; score(c) = -|f - E_c|^2.
    centroids [K,D]; members int [K,M] with C meaning an empty slot."""
    C, D = E.shape
    K, M = members.shape
    f32 = lambda x: np.asarray(x, np.float32)
    inits = [
        numpy_helper.from_array(f32(A), "embed_w"),
        numpy_helper.from_array(f32(a), "embed_b"),
        numpy_helper.from_array(f32(2 * centroids.T), "cent_w"),
        numpy_helper.from_array(f32(-(centroids.astype(np.float64) ** 2).sum(1)), "cent_b"),
        numpy_helper.from_array(np.array([NEG], np.float32), "neg"),
        numpy_helper.from_array(members.astype(np.int64), "members"),
        numpy_helper.from_array(members.reshape(-1).astype(np.int64), "members_flat"),
        numpy_helper.from_array(np.array([M], np.int64), "m_const"),
        numpy_helper.from_array(np.array([-1, M], np.int64), "shape_nm"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    Epad = np.concatenate([E, np.zeros((1, D))], 0)
    memb_w = 2 * Epad[members]  # [K,M,D]
    memb_b = -(Epad[members].astype(np.float64) ** 2).sum(-1)  # [K,M]
    inits += [numpy_helper.from_array(f32(memb_w.transpose(0, 2, 1)), "memb_w"),  # [K,D,M]
              numpy_helper.from_array(f32(memb_b), "memb_b")]
    n = helper.make_node
    nodes = [
        n("Cast", ["quads"], ["P"], to=TensorProto.FLOAT),
        n("MatMul", ["P", "embed_w"], ["f0"]),
        n("Add", ["f0", "embed_b"], ["f"]),
        # allowed-ness of every member slot and every cluster, from the run-time mask
        n("Concat", ["mask", "neg"], ["mask_pad"], axis=0),
        n("Gather", ["mask_pad", "members"], ["slot_mask"], axis=0),
        n("ReduceMax", ["slot_mask"], ["cluster_mask"], axes=[1], keepdims=0),
        n("Add", ["cent_b", "cluster_mask"], ["cent_bias"]),
        n("Add", ["memb_b", "slot_mask"], ["slot_bias"]),
        # stage 1: nearest allowed cluster
        n("MatMul", ["f", "cent_w"], ["s1a"]),
        n("Add", ["s1a", "cent_bias"], ["s1"]),
        n("ArgMax", ["s1"], ["k"], axis=1, keepdims=0),
        # stage 2: nearest allowed member of that cluster
        n("Gather", ["memb_w", "k"], ["g_w"], axis=0),      # [N,D,M]
        n("Gather", ["slot_bias", "k"], ["g_b"], axis=0),   # [N,M]
    ]
    if batched == "matmul":
        nodes += [n("Unsqueeze", ["f", "axis1"], ["f3"]),
                  n("MatMul", ["f3", "g_w"], ["s2a3"]),
                  n("Reshape", ["s2a3", "shape_nm"], ["s2a"])]
    else:
        nodes += [n("Unsqueeze", ["f", "axis2"], ["f3"]),
                  n("Mul", ["f3", "g_w"], ["prod"]),
                  n("ReduceSum", ["prod", "axis1"], ["s2a"], keepdims=0)]
        inits.append(numpy_helper.from_array(np.array([2], np.int64), "axis2"))
    nodes += [
        n("Add", ["s2a", "g_b"], ["s2"]),
        n("ArgMax", ["s2"], ["j"], axis=1, keepdims=0),
        n("Mul", ["k", "m_const"], ["km"]),
        n("Add", ["km", "j"], ["slot"]),
        n("Gather", ["members_flat", "slot"], ["index"], axis=0),
        n("ReduceMax", ["s2"], ["best"], axes=[1], keepdims=0),
        n("ReduceSumSquare", ["f"], ["fnorm"], axes=[1], keepdims=0),
        n("Sub", ["best", "fnorm"], ["score"]),
    ]
    return _model(nodes, [quads_input(), helper.make_tensor_value_info("mask", TensorProto.FLOAT, [C])],
                  [_index_output(), helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])], inits, metadata)


def session(path_or_bytes, threads=1):
    """A session of the model at `path_or_bytes` with the product's options; a model file whose metadata names its
    tables graph (split_tables) is returned as a Split of the two, which runs like one session of the whole graph."""
    s = _session(path_or_bytes, threads)
    tables = s.get_modelmeta().custom_metadata_map.get(TABLES_KEY)
    if tables and isinstance(path_or_bytes, (str, os.PathLike)):
        return Split(s, _session(os.path.join(os.path.dirname(os.path.abspath(path_or_bytes)), tables), threads))
    return s


def _session(path_or_bytes, threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # the product's setting (src/classify/onnx.rs): no memory pattern (with it, the shipped graph and the black-only
    # one run about as fast; models/EVAL.md, "Speed: element gathers")
    so.enable_mem_pattern = False
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


# --- the exhaustive graph: background and variety as inputs ------------------------------------

# Spatial pattern: each tile gets a phase u = frac(col * R2_X + row * R2_Y) (the R2 low-discrepancy
# sequence, whose neighbouring values are far apart: a blue-noise-like pattern), turned into a unit
# vector g(u) of PATTERN_DIM cosines/sines; each emoji has a fixed random unit vector w_c. Adding
# tolerance * g(u) . w_c (in [-tolerance, tolerance]) to every emoji's score makes neighbouring tiles
# prefer different emoji among the near-equal ones, and only among them: the winner's error is
# within 2 * tolerance of the best.
R2_X = 0.7548776662466927
R2_Y = 0.5698402909980532
PATTERN_DIM = 4
PATTERN_SEED = 20261202


def emoji_keys(C, seed=PATTERN_SEED):
    w = np.random.default_rng(seed).normal(size=(C, PATTERN_DIM))
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def pattern_np(col, row):
    """g(u) of the tiles at (col, row), [N, PATTERN_DIM]: the same maths as the graph."""
    u = np.mod(np.asarray(col, np.float64) * R2_X + np.asarray(row, np.float64) * R2_Y, 1.0)
    t = 2 * np.pi * u
    g = np.stack([np.cos(t), np.cos(2 * t + 1.0), np.sin(t), np.sin(2 * t + 1.0)], 1)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def class_matrix(Q, alpha):
    """Q [C,12] the emoji's 2x2 premultiplied colours (0..255), alpha [C,4] quadrant coverage (0..1).
    Returns psi [C, 20] and bias [C] with, for a tile of 2x2 means P, background b and d_q = P_q - b,
      -err(c) + |d|^2 = phi . psi_c + bias_c,  phi = [d (12), d_q . b (4), b (3), |b|^2 (1)]
    where err(c) = sum_q |P_q - (Q_q + (1 - a_q) b)|^2 is the objective (the emoji drawn over b)."""
    Q = np.asarray(Q, np.float64)
    a = np.asarray(alpha, np.float64)
    Qq = Q.reshape(-1, 4, 3)
    psi = np.concatenate([2 * Q, -2 * a, 2 * (a[:, :, None] * Qq).sum(1), -(a ** 2).sum(1, keepdims=True)], 1)
    return psi, -(Q ** 2).sum(1)


def _phi_pattern_nodes(n):
    """phi [N,20] (class_matrix's tile side, from the quads and the background) and the variety pattern
    g [N,4] = tolerance * g(u) (pattern_np) of every tile: the exhaustive and two-stage graphs' first nodes."""
    return [
        # 2x2 quadrant means P [N,12]
        n("Cast", ["quads"], ["P"], to=TensorProto.FLOAT),
        # d = P - b per quadrant, d_q . b, |b|^2
        n("Reshape", ["P", "shape_n43"], ["P43"]),
        n("Reshape", ["background", "shape_n13"], ["b13"]),
        n("Sub", ["P43", "b13"], ["d43"]),
        n("Reshape", ["d43", "shape_n12"], ["d"]),
        n("Mul", ["d43", "b13"], ["db3"]),
        n("ReduceSum", ["db3", "two"], ["db"], keepdims=0),               # [N,4]
        n("Mul", ["background", "background"], ["bb3"]),
        n("ReduceSum", ["bb3", "axis1"], ["bb"], keepdims=1),             # [N,1]
        n("Concat", ["d", "db", "background", "bb"], ["phi"], axis=1),   # [N,20]
        # variety pattern: tolerance * g(u), u = frac(col * R2_X + row * R2_Y)
        n("MatMul", ["position", "r2"], ["u0"]),                          # [N,1]
        n("Floor", ["u0"], ["u0f"]),
        n("Sub", ["u0", "u0f"], ["u"]),
        n("Mul", ["u", "two_pi"], ["t"]),
        n("Mul", ["t", "freq"], ["tf"]),
        n("Add", ["tf", "phase"], ["ang"]),                               # [N,2]: t, 2t + 1
        n("Cos", ["ang"], ["gc"]),
        n("Sin", ["ang"], ["gs"]),
        n("Concat", ["gc", "gs"], ["g0"], axis=1),                        # [N,4]
        n("Mul", ["g0", "tolerance"], ["g1"]),
        n("Mul", ["g1", "inv_sqrt2"], ["g"]),                             # |g0| = sqrt(2)
    ]


def _phi_pattern_inits():
    """The constants _phi_pattern_nodes uses."""
    return [numpy_helper.from_array(v, k) for k, v in {
        "shape_n43": np.array([-1, 4, 3], np.int64), "shape_n12": np.array([-1, 12], np.int64),
        "shape_n13": np.array([-1, 1, 3], np.int64), "r2": np.array([R2_X, R2_Y], np.float32).reshape(2, 1),
        "inv_sqrt2": np.array([2 ** -0.5], np.float32), "two_pi": np.array([2 * np.pi], np.float32),
        "freq": np.array([[1.0, 2.0]], np.float32), "phase": np.array([[0.0, 1.0]], np.float32),
        "axis1": np.array([1], np.int64), "two": np.array([2], np.int64)}.items()]


def build_exhaustive(Q, alpha, metadata):
    """Every allowed emoji scored for every tile, argmax in the graph. Inputs: quads u8 [N,12] (QUADS_DOC),
    mask f32 [C] (0 allowed, -1e9 not), background f32 [N,3] (the colour each tile's emoji is drawn
    over, 0..255), position f32 [N,2] (tile column and row, for the variety pattern), tolerance f32 [1]
    (variety: 0 = the objective's exact choice)."""
    C = len(Q)
    psi, bias = class_matrix(Q, alpha)
    W = emoji_keys(C)
    f32 = lambda x: np.asarray(x, np.float32)
    inits = _phi_pattern_inits() + [
        numpy_helper.from_array(np.array([0.0], np.float32), "zero"),
        numpy_helper.from_array(f32(psi.T), "psi"),            # [20, C]
        numpy_helper.from_array(f32(W.T), "keys"),             # [4, C]
        numpy_helper.from_array(f32(bias), "bias"),            # [C]
    ]
    n = helper.make_node
    nodes = [
        *_phi_pattern_nodes(n),
        # scores of the allowed emoji only: gather their columns once per run (not per tile)
        n("Equal", ["mask", "zero"], ["allowed_b"]),
        n("NonZero", ["allowed_b"], ["allowed2"]),                         # [1,K]
        n("Squeeze", ["allowed2", "axis0"], ["allowed"]),                  # [K]
        n("Gather", ["psi", "allowed"], ["psi_k"], axis=1),               # [20,K]
        n("Gather", ["keys", "allowed"], ["keys_k"], axis=1),             # [4,K]
        n("Gather", ["bias", "allowed"], ["bias_k"], axis=0),             # [K]
        # the bias rides in the MatMul as a 25th input column of ones (a separate Add over [N,K]
        # measured as slow as the MatMul itself)
        n("Shape", ["bb"], ["bb_shape"]),
        n("ConstantOfShape", ["bb_shape"], ["ones"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        n("Concat", ["phi", "g", "ones"], ["phig"], axis=1),              # [N,25]
        n("Unsqueeze", ["bias_k", "axis0"], ["bias_row"]),                # [1,K]
        n("Concat", ["psi_k", "keys_k", "bias_row"], ["psig"], axis=0),   # [25,K]
        n("MatMul", ["phig", "psig"], ["s"]),
        n("ArgMax", ["s"], ["j"], axis=1, keepdims=0),
        n("Gather", ["allowed", "j"], ["index"], axis=0),
    ]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    return _model(nodes, _tile_inputs(C), [_index_output()], inits, metadata)


def build_two_stage(Q, alpha, protos, members, metadata):
    """The exhaustive graph's scores, searched in two stages so each tile scores K + M emoji, not C:
    1. the nearest of K prototype pseudo-emoji (protos = (Q_k [K,12], alpha_k [K,4])) under the same
       objective (drawn over the tile's background), among prototypes with an allowed member;
    2. the best allowed member of that prototype's list members [K,M] (C = empty slot), with the
       variety term. Same inputs and output as build_exhaustive."""
    C = len(Q)
    K, M = members.shape
    psi, bias = class_matrix(Q, alpha)
    W = emoji_keys(C)
    ppsi, pbias = class_matrix(*protos)
    full = np.concatenate([psi, W], 1)                           # [C,24]
    full_pad = np.concatenate([full, np.zeros((1, full.shape[1]))], 0)
    bias_pad = np.concatenate([bias, [0.0]])
    memb_w = full_pad[members].transpose(0, 2, 1)                # [K,24,M]
    memb_b = bias_pad[members]                                   # [K,M]
    f32 = lambda x: np.asarray(x, np.float32)
    inits = _phi_pattern_inits() + [
        numpy_helper.from_array(np.array([-1, M], np.int64), "shape_nm"),
        numpy_helper.from_array(np.array([NEG], np.float32), "neg"),
        numpy_helper.from_array(np.array([M], np.int64), "m_const"),
        numpy_helper.from_array(members.astype(np.int64), "members"),
        numpy_helper.from_array(members.reshape(-1).astype(np.int64), "members_flat"),
        numpy_helper.from_array(f32(ppsi.T), "proto_w"),          # [20,K]
        numpy_helper.from_array(f32(pbias), "proto_b"),           # [K]
        numpy_helper.from_array(f32(memb_w), "memb_w"),           # [K,24,M]
        numpy_helper.from_array(f32(memb_b), "memb_b"),           # [K,M]
    ]
    n = helper.make_node
    nodes = [
        *_phi_pattern_nodes(n),
        n("Concat", ["phi", "g"], ["phig"], axis=1),                      # [N,24]
        # allowed-ness of every member slot and every prototype, from the run-time mask
        n("Concat", ["mask", "neg"], ["mask_pad"], axis=0),
        n("Gather", ["mask_pad", "members"], ["slot_mask"], axis=0),
        n("ReduceMax", ["slot_mask"], ["proto_mask"], axes=[1], keepdims=0),
        n("Add", ["proto_b", "proto_mask"], ["proto_bias"]),
        n("Add", ["memb_b", "slot_mask"], ["slot_bias"]),
        # stage 1: nearest allowed prototype (no variety term)
        n("MatMul", ["phi", "proto_w"], ["s1a"]),
        n("Add", ["s1a", "proto_bias"], ["s1"]),
        n("ArgMax", ["s1"], ["k"], axis=1, keepdims=0),
        # stage 2: best allowed member of that prototype, variety term included
        n("Gather", ["memb_w", "k"], ["g_w"], axis=0),                    # [N,24,M]
        n("Gather", ["slot_bias", "k"], ["g_b"], axis=0),                 # [N,M]
        n("Unsqueeze", ["phig", "axis1"], ["f3"]),
        n("MatMul", ["f3", "g_w"], ["s2a3"]),
        n("Reshape", ["s2a3", "shape_nm"], ["s2a"]),
        n("Add", ["s2a", "g_b"], ["s2"]),
        n("ArgMax", ["s2"], ["j"], axis=1, keepdims=0),
        n("Mul", ["k", "m_const"], ["km"]),
        n("Add", ["km", "j"], ["slot"]),
        n("Gather", ["members_flat", "slot"], ["index"], axis=0),
    ]
    return _model(nodes, _tile_inputs(C), [_index_output()], inits, metadata)


# --- the fast two-stage graph: variety as a pick among the near-best by a per-position key --------

PATTERN_BINS = 256
VARIETY_UNIT = 1000.0  # the tolerance per unit of --variety (domain::likeness::VARIETY_UNIT)


def pattern_bin_np(col, row, bins=PATTERN_BINS):
    """The pattern phase of the tiles at (col, row) quantised to `bins` bins, as the fast graph does:
    floor(frac(col * R2_X + row * R2_Y) * bins), in float32 like the graph."""
    u = np.asarray(col, np.float32) * np.float32(R2_X) + np.asarray(row, np.float32) * np.float32(R2_Y)
    u = u - np.floor(u)
    return np.minimum(np.floor(u * np.float32(bins)), bins - 1).astype(np.int64)


def key_table(C, bins=PATTERN_BINS, seed=PATTERN_SEED):
    """[bins, C]: an independent uniform key in [0, 1) per phase bin and emoji. Among the emoji
    within the tolerance of a tile's best, the graph picks the one with the highest key in the
    tile's phase bin: every near-best emoji is equally likely, whatever its small score advantage,
    so a flat area spreads evenly over all of them; the keys do not depend on the scores, so noise
    changes the pick only where it moves an emoji across the tolerance."""
    return np.random.default_rng(seed).random((bins, C))


def key_choice_np(s, keys, tol):
    """The fast graph's pick in numpy: s [N,A] scores, keys [N,A] each tile's keys, tol >= 0.
    Returns the column per tile."""
    within = s >= s.max(1, keepdims=True) - tol
    return np.where(within, keys, -1.0).argmax(1)


def _search_inits(C, K, protos, bins):
    """The constants build_fast and build_stacked share: the phase pattern and bins, the prototypes
    (stage 1), the emoji keys per phase bin and the phi maths."""
    ppsi, pbias = class_matrix(*protos)
    f32 = lambda x: np.asarray(x, np.float32)
    i64 = lambda x: np.asarray(x, np.int64)
    T_pad = np.concatenate([key_table(C, bins), np.zeros((bins, 1))], 1)   # [bins, C+1]
    rep = np.tile(np.eye(3), (1, 4))                                       # [3,12]
    return {
        "r2": f32([R2_X, R2_Y]).reshape(2, 1),
        "bins_f": f32([bins]), "bins_max": f32([bins - 1]), "k_const": i64([K]), "axis1": i64([1]),
        "neg": f32([NEG]), "minus1f": f32([-1.0]), "minus1": i64([-1]), "k1": i64([1]), "zero": f32([0.0]),
        "proto_w": f32(ppsi.T), "proto_b": f32(pbias), "keys": f32(T_pad),
        "d_w": f32(np.concatenate([np.eye(12), -rep], 0)), "rep": f32(rep),
        "quad_sum": f32(np.repeat(np.eye(4), 3, 0)), "ones31": f32(np.ones((3, 1))),
    }


def build_fast(Q, alpha, protos, members, metadata, bins=PATTERN_BINS, stage1="argmax"):
    """build_two_stage's search with less memory traffic per tile: stage 2 gathers 21 (not 24) weights
    per member (the bias rides as a column against a constant 1, and the run's mask is added to that
    bias row once per run, so no per-tile mask gather); the variety is a pick, not a nudge:
    among the members whose score is within `tolerance` of the tile's best, the one with the highest
    key_table entry for the tile's phase bin (one [N, M] gather from a table folded at load time).
    Tolerance 0 is the objective's exact choice. Same inputs and output as build_exhaustive.

    members: one table [K,M], or two (exact [K,M0], varied [K,M1]) over the same prototypes: the
    exact table serves tolerance 0, the varied one (shorter: a pick among the near-best needs fewer
    candidates than the exact best) every tolerance above 0, chosen per run by an If node."""
    C = len(Q)
    tables = members if isinstance(members, tuple) else (members,)
    init = _search_inits(C, tables[0].shape[0], protos, bins)
    n = helper.make_node
    nodes = _phi_nodes(n) + route_nodes + _bin_nodes(n) + [
        n("Concat", ["mask", "neg"], ["mask_pad"], axis=0),
    ]
    branches = []
    for t, table in enumerate(tables):
        branch_init, branch_nodes, folded = _member_search(n, Q, alpha, table, bins, f"_{t}", stage1)
        init.update(branch_init)
        nodes += folded
        branches.append(branch_nodes)
    if len(branches) == 1:
        nodes += branches[0]
        nodes.append(n("Identity", ["index_0"], ["index"]))
    else:
        out = helper.make_tensor_value_info
        sub = lambda t: helper.make_graph(branches[t], f"members_{t}", [], [out(f"index_{t}", TensorProto.INT64, ["N"])])
        nodes += [n("Equal", ["tolerance", "zero"], ["exact"]),
                  n("If", ["exact"], ["index"], then_branch=sub(0), else_branch=sub(1))]
    return _model(nodes, _tile_inputs(C), [_index_output()],
                  [numpy_helper.from_array(v, k) for k, v in init.items()], metadata)


def _phi_nodes(n):
    """phi [N,20] and phi1 = [phi, 1] [N,21] of every tile, from small matrix products (broadcasting
    elementwise ops over [N,4,3] measured slower): d = [P, b] @ d_w (P - b per quadrant),
    b4 = b @ rep (b once per quadrant), d_q . b = (d * b4) @ quad_sum, |b|^2 = (b * b) @ ones."""
    return [
        n("Cast", ["quads"], ["P"], to=TensorProto.FLOAT),
        n("Concat", ["P", "background"], ["xb"], axis=1),                 # [N,15]
        n("MatMul", ["xb", "d_w"], ["d"]),                                # [N,12]
        n("MatMul", ["background", "rep"], ["b4"]),                       # [N,12]
        n("Mul", ["d", "b4"], ["db12"]),
        n("MatMul", ["db12", "quad_sum"], ["db"]),                        # [N,4]
        n("Mul", ["background", "background"], ["bb3"]),
        n("MatMul", ["bb3", "ones31"], ["bb"]),                           # [N,1]
        n("Concat", ["d", "db", "background", "bb"], ["phi"], axis=1),   # [N,20]
        n("Shape", ["bb"], ["bb_shape"]),
        n("ConstantOfShape", ["bb_shape"], ["ones"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        n("Concat", ["phi", "ones"], ["phi1"], axis=1),                   # [N,21]
    ]


def black_gain(psi):
    """[C, 8]: per emoji, the weights U with score_black - score_b + |P - b|^2 - |P|^2 = y . U, y = phi[12:20]
    = [d_q . b (4), b (3), |b|^2 (1)] (class_matrix's phi over background b): how much better (positive) the
    emoji fits the tile drawn over black than over b, from 8 numbers per tile: adding U to an emoji's weights
    for phi[12:20] scores it as drawn over black, comparable with scores over b (build_stacked's choice).
    score_black - score_b = b . sum_q psi_d[q] - (d . b) . psi_db - b . psi_b - |b|^2 psi_bb, and
    |P - b|^2 - |P|^2 = -2 sum_q d_q . b - 4 |b|^2."""
    psi = np.asarray(psi, np.float64)
    d_sum = psi[:, :12].reshape(-1, 4, 3).sum(1)
    return np.concatenate([-psi[:, 12:16] - 2, d_sum - psi[:, 16:19], -psi[:, 19:20] - 4], 1)


def _bin_nodes(n):
    """The pattern phase bin of every tile, [N] int64."""
    return [
        n("MatMul", ["position", "r2"], ["u0"]),                          # [N,1]
        n("Floor", ["u0"], ["u0f"]),
        n("Sub", ["u0", "u0f"], ["u"]),
        n("Mul", ["u", "bins_f"], ["ub"]),
        n("Floor", ["ub"], ["ubf"]),
        n("Min", ["ubf", "bins_max"], ["ubm"]),
        n("Cast", ["ubm"], ["bin2"], to=TensorProto.INT64),
        n("Reshape", ["bin2", "minus1"], ["bin"]),
    ]


def _member_search(n, Q, alpha, members, bins, tag, stage1):
    """The search over one member table [K,M]: (initializers, per-run nodes ending in index{tag},
    constant nodes that ONNX Runtime folds when the session loads)."""
    C = len(Q)
    K, M = members.shape
    psi, bias = class_matrix(Q, alpha)
    full = np.concatenate([psi, bias[:, None]], 1)               # [C,21]
    full_pad = np.concatenate([full, np.zeros((1, full.shape[1]))], 0)
    memb_w = full_pad[members].transpose(0, 2, 1)                # [K,21,M]
    t = lambda name: name + tag
    init = {t("members"): np.asarray(members, np.int64), t("members_flat"): np.asarray(members, np.int64).reshape(-1),
            t("memb_w20"): np.asarray(memb_w[:, :20], np.float32), t("memb_b"): np.asarray(memb_w[:, 20], np.float32),
            t("shape_nm"): np.array([-1, M], np.int64), t("shape_bkm"): np.array([bins * K, M], np.int64),
            t("m_const"): np.array([M], np.int64)}
    folded = [
        # the members' keys per (phase bin, prototype)
        n("Gather", ["keys", t("members")], [t("memb_k3")], axis=1),      # [bins,K,M]
        n("Reshape", [t("memb_k3"), t("shape_bkm")], [t("memb_t")]),      # [bins*K,M]
    ]
    nodes = [
        # per run: allowed-ness of every member slot and prototype, from the mask
        n("Gather", ["mask_pad", t("members")], [t("slot_mask")], axis=0),        # [K,M]
        n("ReduceMax", [t("slot_mask")], [t("proto_mask")], axes=[1], keepdims=0),
        n("Add", [t("memb_b"), t("slot_mask")], [t("memb_bm")]),                  # [K,M]: bias + mask
        n("Unsqueeze", [t("memb_bm"), "axis1"], [t("memb_bm3")]),
        n("Concat", [t("memb_w20"), t("memb_bm3")], [t("memb_w")], axis=1),       # [K,21,M]
        # stage 1: nearest prototype with an allowed member; the mask joins the prototypes' bias once
        # per run and the MatMul + Add of a [K] bias fuse into one Gemm (inside the branch: ORT does
        # not fuse across the If)
        n("Add", ["proto_b", t("proto_mask")], [t("proto_bias")]),                # [K]
        n("MatMul", ["phi", "proto_w"], [t("s1a")]),
        n("Add", [t("s1a"), t("proto_bias")], [t("s1")]),
    ]
    if stage1 == "topk":
        nodes += [n("TopK", [t("s1"), "k1"], [t("s1v"), t("k2")], axis=1),
                  n("Reshape", [t("k2"), "minus1"], [t("k")])]
    else:
        nodes += [n("ArgMax", [t("s1")], [t("k")], axis=1, keepdims=0)]
    nodes += [
        # stage 2: the members' scores (disallowed ones at -1e9) ...
        n("Gather", [t("memb_w"), t("k")], [t("g_w")], axis=0),                   # [N,21,M]
        n("Unsqueeze", ["phi1", "axis1"], [t("f3")]),
        n("MatMul", [t("f3"), t("g_w")], [t("s2a3")]),
        n("Reshape", [t("s2a3"), t("shape_nm")], [t("s2")]),
        # ... and among those within the tolerance of the best, the highest key
        n("ReduceMax", [t("s2")], [t("best")], axes=[1], keepdims=1),             # [N,1]
        n("Sub", [t("best"), "tolerance"], [t("thr")]),
        n("GreaterOrEqual", [t("s2"), t("thr")], [t("within")]),                  # [N,M]
        n("Mul", ["bin", "k_const"], [t("bk")]),
        n("Add", [t("bk"), t("k")], [t("bki")]),
        n("Gather", [t("memb_t"), t("bki")], [t("g_t")], axis=0),                 # [N,M]
        n("Where", [t("within"), t("g_t"), "minus1f"], [t("pick")]),
        n("ArgMax", [t("pick")], [t("j")], axis=1, keepdims=0),
        n("Mul", [t("k"), t("m_const")], [t("km")]),
        n("Add", [t("km"), t("j")], [t("slot")]),
        n("Gather", [t("members_flat"), t("slot")], [t("index")], axis=0),
    ]
    return init, nodes, folded


def build_stacked(Q, alpha, protos, tables, metadata, bins=PATTERN_BINS, widen=None, chunks=1, relative=None, narrow=0,
                  route_black=False, route_flat=0.0, route_sat=0.0, route_rows=False, ladder=None, chunk_scores=False,
                  widen_sat=None, widen_pale=None, chunk_stage1=False, pick="key", dark=None, choice=False, choice_level=255,
                  dark_rel=None, dark_budget=None, checker=0, dark_rows=False, dark_protos=0, stage1_parts=1,
                  narrow_textured=0.0, dark_cap=0.0, exact_route=None, flat_frame=None, exact_split=False,
                  detail_cap=None, stage1_groups=0, integer_counts=False, route_zeroed=False, cheaper_kernels=False,
                  exact_parts=EXACT_PARTS, stage2_parts=STAGE2_PARTS, selected_biases=True, stage2_block=STAGE2_BLOCK,
                  stage1_matmul_parts=STAGE1_MATMUL):
    """build_fast's search over two member tables (exact [K,M0] at tolerance 0, varied [K,M1] above it)
    without an If node: the tables lie one after the other in flat constants, each run reshapes them to
    [rows, M] with M (M0 or M1) and a row offset chosen by the tolerance, so every node runs in the main
    graph. Needs K*M0 to be a multiple of M1.

    chunks > 1: stage 2 (gather, MatMul, pick) runs on that many consecutive parts of the batch one after
    the other, so each part's gathered member weights ([n, 21, M] floats: 50 MB for a whole 1280x720
    frame) are still in cache when its MatMul reads them (16 parts: about 0.7x the time of one; same
    choices; models/EVAL.md).

    widen = (count, factor): a tile with fewer than `count` members within the tolerance of its best picks
    among those within factor * tolerance instead (dark or saturated flat areas, where few emoji come
    close, otherwise repeat the same few). None: no widening (the shipped graph; models/EVAL.md).
    relative = (k, floor): each tile's tolerance is min(T, T / VARIETY_UNIT * (k * e + floor)), e = its best
    member's error (the objective's err), T the tolerance input: where the best emoji is already close
    (smooth grey or dark tiles) variety costs in proportion to that error, not a fixed amount, so its
    cost in dB is bounded; T = 0 is still the exact choice. None: the fixed tolerance T for every tile (the
    shipped graph: the relative one lost variety on flat areas of unseen frames, models/EVAL.md, "Relative
    tolerance").
    narrow = N > 0: a tile picks among at most its N best members (and ties) within the tolerance (an
    experiment, not shipped: models/EVAL.md, "Relative tolerance").
    The [K, M, 21] layout (MatMul against the tile's column) measured the same as this [K, 21, M] one
    (models/README.md) and is not kept.
    route_black: stage 1 scores the prototypes as drawn over black whatever the background (the tile's
    quads against their first 12 rows), so that flat tiles over their own colour, which every nearly
    transparent prototype fits perfectly, still go to prototypes of their colour (models/EVAL.md,
    "Routing flat tiles over black"); the member tables must be counted the same way (export.build_index).
    route_flat = L > 0: only the tiles whose quadrants are all within L levels of the background (each
    channel) are routed as if over black; the others as over their background (an experiment).
    route_sat = S > 0 (with route_flat): only those of them whose background is saturated (its largest minus
    its smallest channel >= S levels) are routed as if over black.
    route_rows (with route_flat): the routed tiles have member lists of their own: the table has 2K rows, the
    first K for the tiles routed over their background, the next K for the routed ones (prototype k's list for
    them is row K + k), so the other tiles keep the lists they had and the routed ones get lists counted on
    tiles like them alone.
    ladder = (count, fracs): each tile's tolerance is T * f, f the smallest of `fracs` (descending, < 1) that
    still leaves at least `count` members within it, else T itself: where many emoji come close (smooth grey,
    pale or dark areas, whose best emoji is already near) the pick stays among about `count` of the nearest,
    enough to vary the area, instead of spending the whole tolerance; where few come close, nothing changes.
    The counts of every rung come from one [n, rungs, M] comparison (models/EVAL.md, "Count ladder").
    widen_sat = (count, factor, sat) (with ladder): a tile over a saturated background (its largest minus
    smallest channel >= sat levels; at the tile background, the tile's own colour) with fewer than `count` members within the ladder's first rung (T * fracs[0])
    picks among those within factor * T instead: over a saturated colour few emoji come close, so a flat area
    of it repeats the same few (models/EVAL.md, "Widening saturated tiles"). The count is the ladder's own.
    widen_pale = (level, count, factor) (with widen_sat, the routing and the dark budget): a near-flat tile (every
    quadrant within route_flat of its background) whose background's smallest channel is >= level and that is not
    saturated picks within factor * T with fewer than `count` members within the first rung: over a white or pale
    wall only a handful of nearly empty emoji come within T (models/EVAL.md, "Pale walls").
    chunk_scores: only the members' scores (the gather of their weights and the MatMul) run in parts; the pick
    runs once on the whole batch (fewer nodes; the gathered weights are what needs the cache).
    chunk_stage1 (with chunk_scores): stage 1 (the prototypes' [n, K] scores and their TopK) runs in the same
    parts: the same choices, about 0.6 ms less per 9216 tiles at 1 thread but about 1.1x the time at 2 (the
    product's), so not shipped (models/EVAL.md, "112 members").
    stage1_groups = G > 0: stage 1's nearest prototype is found in two steps over groups of G prototypes
    (_first_max: the same index as the TopK, in about a third of its time); 0: by a TopK.
    route_zeroed (with route_flat and the copy prototypes): stage 1's input for a routed tile is its features
    computed again over a zeroed background (a product by 0 or 1 per tile, then the same MatMul as `d`) instead
    of a Where choosing between [N,20] rows: exactly the same numbers (d's weights are 1 and -1, so over 0 it
    is P itself; the rest is 0), without the Where, which ONNX Runtime runs an element at a time.
    integer_counts (with the quantile pick): the members within the tolerance are counted per block as bytes by
    one MatMulInteger (the same counts, faster than a float Cast and ReduceSum over [N, M]).
    cheaper_kernels: the same numbers from kernels ONNX Runtime runs faster (_cheaper_kernels): stage 2's biases
    gathered and added once after its parts instead of in each, d as P - b (a Sub) instead of [P, b] against 1
    and -1, products of equal shapes instead of [N,k] x [N,1] broadcasts, the second best's penalty from bytes (DequantizeLinear) instead of a float Cast and a Mul, the dark
    ladder's count by one MatMulInteger, stage 1's index as [N] (_first_max's flat).
    stage1_parts: stage 1 (the prototypes' scores, [n, K], and their largest) runs on this many consecutive parts of
    the batch, each a whole-batch-sized Gemm for both threads but with its scores still in cache for the TopK: the
    same choices, about 0.4 ms less per 9216 tiles at 2 threads and 1 ms at 1 (models/EVAL.md, "Speed").
    dark = (count, fracs, level) (with ladder): more rungs for dark tiles (the brightest channel of the tile's
    mean colour <= level): the smallest of `fracs` with at least `count` members within it keeps the tile to that
    fraction of T, so a dark tile picks among about its `count` nearest. A dark tile's best error
    is small, so the fixed tolerance costs it more in proportion, and drawn over black it gains nothing from the
    background to spend (models/EVAL.md, "A quantile pick").
    pick: "key" (the highest key in the tile's phase bin among the members within its tolerance) or "quantile"
    (the floor(u n)-th of them in list order, u the tile's R2 phase, n how many there are: neighbouring phases
    differ by 0.245 across and 0.430 down, so two neighbours in a flat area take different emoji whenever n >= 4,
    and no per-run gather from the folded key table; models/EVAL.md, "A quantile pick").
    choice: the member tables hold labels: e (emoji e over the tile's background) or C + e (emoji e over
    black), and a `choice` input [1]. A slot C + e scores e as drawn over black (its weights plus black_gain(e)
    on phi[12:20], on the same scale as the others: minus the objective's error plus the tile's |P - b|^2), so
    a tile picks among the emoji over its background and over black for one more weight per slot: a 22nd
    column, 1 for a tile whose mean's brightest channel is above choice_level or when choice is 0, against
    -1e9 in the slots over black (they drop out). The output is the emoji (the caller draws it over whichever
    of the two it fits better; models/EVAL.md, "The better of two backgrounds").
    dark_budget = (k, c, level): a dark tile (no quadrant channel above level) keeps to within
    (k e + c B) T / 1500 of its best, e its best member's error and B the `dark_budget` input: the whole frame's
    summed tile detail (|P - m|^2, m the tile's mean colour) over its count of dark tiles (common.dark_budget).
    Variety in a dark area costs in proportion to how close its best emoji already is, and what a frame can
    spend on it in dB is set by the rest of the frame: a shirt or wall that is most of a plain picture keeps
    near its best emoji, the same shirt under a detailed scene varies as much as before. It is the one-rung
    ladder's rung for a dark tile (needing two members within it, not the ladder's count), never less than its
    second best member (at T > 0: a flat dark area alternates at least two emoji) and never more than T
    (models/EVAL.md, "A dark budget").
    With the dark budget (and route_flat, route_sat, widen_sat, the quantile pick) the per-tile numbers (the
    routing tests, the saturation penalty, the ladder's tolerance) are [N], not [N,1]: ONNX Runtime broadcasts
    [N,1] against a [1] constant one element per call (about 0.1 ms per operation per 9216 tiles), [N] against
    [1] in one call.
    checker (quantile pick, with the dark budget): 2, a tile with exactly two candidates takes the (col + row)
    mod 2-th (a flat area of two candidates becomes a checkerboard; the R2 phase leaves 51% of such neighbours
    alike across); 3, also a tile with three the (col + row) mod 3-th (26% across by the phase); 0, the phase for
    every n. The dark budget leaves flat dark areas two or three candidates.
    dark_rows (with the dark budget): each table has 2K rows for K prototypes: prototype k's list for a tile with a
    quadrant channel above the dark budget's level in row k, for a dark tile in row K + k (export.build_index counts
    each half on such tiles alone), so the dimmed emoji that dark tiles take fill lists of their own; stage 1 allows
    a prototype when both its rows have an allowed member (each holds the prototype's own classes).
    dark_protos = D > 0 (with dark_rows): the last D prototypes (of the dimmed copies) are for dark tiles only: stage
    1 reads a 21st column, 1 for a tile that is not dark, against -1e9 in their weights.
    narrow_textured = F > 0 (with the dark budget and the routing): a tile with detail (a quadrant more than
    route_flat levels from its background in a channel: the routing's flat test, which at the tile background, the
    default, is the tile's own mean) that fails the ladder's rung picks within F T of its
    best (at least its second best member, at most T) instead of T. Its neighbours differ in what they show, so they
    vary without the whole tolerance, which on fine regular detail (wooden slats, where few emoji come close) cost
    far more than variety needs; a nearly flat tile keeps T, and the saturated and pale widenings apply as before
    (models/EVAL.md, "Detail keeps near its best").
    dark_cap = F > 0 (with the dark budget): a dark tile's budget is at most F T (still at least its second best
    member): beside a detailed scene a dark area varies among its near emoji instead of spending the whole tolerance
    on tiles whose best error is small.
    flat_frame = (K, LO, HI, BLACK, COUNT[, ALLOW]) (with the dark budget and the routing): in a frame of nearly one flat
    colour a nearly flat tile (the routing's flat test) keeps to at most K x (e_black + its detail) - e of its best
    (at least its second best member), e its best member's error, its detail sum_q |P_q - m|^2 (m its mean colour)
    and e_black the best error over black of a flat tile of colour m among the set's emoji: BLACK [S^3], the cell of
    m rounded on an S-step grid per channel (common.black_floor); g = (s - LO) / (HI - LO) clipped to 0..1, s the
    `frame_flat` input (the share of the frame's tiles whose mean is near its median colour), blends the tolerance
    T' the rules above give it to T' - g max(T' - cap, 0): as before in a frame with a scene in it. On a dim wall
    that fills the frame, emoji over black (the picture before issue 15) were already close, and the variety on
    every tile cost several dB; on a bright one e_black is large and nothing changes (models/EVAL.md, "A dim plain
    frame"). COUNT = (PER, EXEMPT, MOST[, STEPS]) or None (tried, not shipped: its TopK takes 1.5x the time; with
    STEPS, _nth_bisect's counts instead, in frames above LO only, 1.15x there): the cap is at
    least the tile's n-th best member's distance, n = ceil(PER s) within 2..MOST, and 2 from s >= EXEMPT on: a
    wall that is most of a frame with a person in it keeps enough candidates that none of its emoji covers much
    more than 1 / PER of the frame. ALLOW = C > 0 (the `frame_black` input: the frame's mean over its tiles of
    e_black + detail, about what the picture before issue 15 spent per tile): the cap holds in every frame,
    C x frame_black x (1 - g) above K x (e_black + detail), so outside a flat frame a nearly flat tile strays
    from its best by its share of the frame's budget (models/EVAL.md, "The flat-tile cap in every frame").
    detail_cap = (KD, CD, H) (with flat_frame's ALLOW): a tile with detail (not nearly flat: the routing's flat test)
    keeps within KD x (e_black + h(its detail)) + CD x frame_black - e of its best (at least its second best
    member), h(d) = d / (1 + sqrt(d) / H) the part of the detail that emoji over black miss (common.detail_spent):
    about what the picture before issue 15 spent on that tile, so on a dim detailed frame (small errors, where the
    tolerance T was most of the picture's error) the variety spends a bounded share of it; on a bright frame it
    seldom binds (models/EVAL.md, "A budget for tiles with detail").
    exact_route = (L, S) (with two tables, route_flat and route_sat): at tolerance 0 the routing's limits are L and S
    instead (the exact table is counted with them: export.py --exact-route-flat, --exact-route-sat); above it,
    route_flat and route_sat as before.
    exact_split (two tables, the exact one twice as long as the other): the exact lists' first halves are read as
    any list; at tolerance 0 an If runs the search of both halves instead of the pick (_exact_more);
    exact_parts = (parts, least): that search then runs in one table and in parts of max(N / parts, least) tiles
    (exact_in_one_table); None: as _exact_more builds it, in two tables and `chunks` parts (the file before).
    stage2_parts = (parts, cap) (with exact_split and chunks > 1): stage 2 above tolerance 0 in `parts` parts of
    min(N / chunks, cap) tiles (stage2_capped_parts); None: `chunks` parts of N / chunks (the file before).
    selected_biases (with exact_parts): each run masks only the member table its tolerance reads
    (selected_table_biases); False: both tables (the file before).
    stage2_block (with exact_parts and chunks > 1): both branches' stage 2 in blocks of that many tiles of one
    prototype (stage2_blocked, which replaces the parts: stage2_parts is then not used, and of exact_parts only
    the one table is kept); 0: in parts (the file before).
    stage1_matmul_parts = (parts, least) (with stage1_parts > 1): stage 1's scores from one MatMul per part with the
    biases inside it, in `parts` parts of max(N / parts, least) tiles (stage1_matmul); None: stage1_parts parts of
    a MatMul and an Add (the file before).
    Same inputs and output as build_exhaustive (and choice, dark_budget)."""
    exact_more = None
    if exact_split:
        # the exact table's lists are twice as long: their second halves are searched only at tolerance 0
        M1 = tables[1].shape[1]
        assert len(tables) == 2 and tables[0].shape[1] == 2 * M1
        exact_more, tables = tables[0][:, M1:], (tables[0][:, :M1], tables[1])
    assert not (ladder and (widen or relative or narrow)), "the ladder replaces the other per-tile tolerances"
    assert not widen_sat or ladder, "widen_sat is a rung of the ladder"
    dark_swap = bool(dark) and len(dark) > 3 and dark[3] == "swap"
    C = len(Q)
    if choice:
        # the slots over black: their weights' gain part (zero for the slots over the background); then the
        # emoji of every slot (the padding label 2C -> C)
        gain_pad = np.concatenate([np.zeros((C, 20)), np.concatenate([np.zeros((C, 12)), black_gain(class_matrix(Q, alpha)[0])], 1),
                                   np.zeros((1, 20))], 0)                          # [2C+1,20]
        gains = [gain_pad[t].transpose(0, 2, 1) for t in tables]                     # [K,20,Mt]
        blacks = [np.where((t >= C) & (t < 2 * C), NEG, 0.0) for t in tables]       # [K,Mt]
        tables = tuple(np.where(t < 2 * C, t % C, C) for t in tables)
    (K, M0), (_, M1) = tables[0].shape, tables[-1].shape    # one table: the same at every tolerance
    assert (K * M0) % M1 == 0, "the exact table must fill whole rows of the varied table's width"
    off1 = K * M0 // M1 if len(tables) > 1 else 0
    psi, bias = class_matrix(Q, alpha)
    full = np.concatenate([psi, bias[:, None]], 1)               # [C,21]
    full_pad = np.concatenate([full, np.zeros((1, full.shape[1]))], 0)
    f32 = lambda x: np.asarray(x, np.float32)
    i64 = lambda x: np.asarray(x, np.int64)
    init = _search_inits(C, K, protos, bins)
    init.update({
        "widths": i64([M0, M1]), "row_offsets": i64([0, off1]), "key_offsets": i64([0, bins * off1]),
        "members_cat": i64(np.concatenate([t.reshape(-1) for t in tables])),
        "shape_w": i64([-1, 22 if choice else 21]),
    })
    if route_black:
        init["proto_w12"] = init.pop("proto_w")[:12].copy()
    one_d = bool(dark_budget)                    # the dark budget's graph: per-tile numbers [N] (see above)
    assert not one_d or (route_flat and route_sat and widen_sat and pick == "quantile" and not route_rows)
    keep = 0 if one_d else 1
    route_nodes = []
    if route_flat:
        init["route_lim"] = np.asarray([route_flat], np.float32)
        if exact_route:
            # at tolerance 0 (the exact table) the routing's own limits: the run's constants, by the tolerance
            init["route_lim_v"] = init.pop("route_lim")
            init["route_lim_e"] = np.asarray([exact_route[0]], np.float32)
        init["pad_black"] = np.eye(12, 20, dtype=np.float32)
        flat = "flat_b1" if one_d else "flat_b"
        route_nodes = [
            helper.make_node("Abs", ["d"], ["d_abs"]),
            helper.make_node("ReduceMax", ["d_abs"], ["d_max"], axes=[1], keepdims=keep),      # [N,1] ([N])
            helper.make_node("LessOrEqual", ["d_max", "route_lim"], ["flat_b0" if route_sat else flat]),
            helper.make_node("MatMul", ["P", "pad_black"], ["phi_black"]),                  # [N,20]
            helper.make_node("Where", ["flat_b", "phi_black", "phi"], ["phi_r"]),
        ]
        if route_sat:
            init["sat_lim"] = np.asarray([route_sat], np.float32)
            if exact_route:
                init["sat_lim_v"] = init.pop("sat_lim")
                init["sat_lim_e"] = np.asarray([exact_route[1]], np.float32)
            route_nodes[3:3] = [
                helper.make_node("ReduceMax", ["background"], ["bg_max"], axes=[1], keepdims=keep),   # [N,1] ([N])
                helper.make_node("ReduceMin", ["background"], ["bg_min"], axes=[1], keepdims=keep),
                helper.make_node("Sub", ["bg_max", "bg_min"], ["bg_sat"]),
                helper.make_node("GreaterOrEqual", ["bg_sat", "sat_lim"], ["sat_b"]),
                helper.make_node("And", ["flat_b0", "sat_b"], [flat]),
            ]
        if one_d:
            route_nodes.insert(-1, helper.make_node("Unsqueeze", ["flat_b1", "axis1"], ["flat_b"]))   # [N,1]
        if exact_route:
            assert route_sat, "the exact table's routing names both limits"
            route_nodes[:0] = [
                helper.make_node("Greater", ["tolerance", "zero"], ["rt_varied"]),
                helper.make_node("Where", ["rt_varied", "route_lim_v", "route_lim_e"], ["route_lim"]),
                helper.make_node("Where", ["rt_varied", "sat_lim_v", "sat_lim_e"], ["sat_lim"]),
            ]
    # zeros after the second table, so that both flat constants reshape to whole rows of either width
    lcm, widths = int(np.lcm(M0, M1)), sum(t.shape[1] for t in tables)
    init["pad_w"] = f32(np.zeros((22 if choice else 21) * (-(K * widths) % lcm)))
    init["pad_t"] = f32(np.zeros(-(bins * K * widths) % lcm))
    n = helper.make_node

    def brightest():
        """[N,1]: the brightest channel of each tile's mean colour (the average of its 2x2 means); its nodes join
        the graph at the first call."""
        if "tile_mean" not in init:
            init["tile_mean"] = f32(np.tile(np.eye(3), (4, 1)) / 4)                # [12,3]
            nodes.extend([n("MatMul", ["P", "tile_mean"], ["tile_rgb"]),
                          n("ReduceMax", ["tile_rgb"], ["tile_max"], axes=[1], keepdims=1)])
        return "tile_max"

    def tile_dd(keep=1):
        """|P - b|^2 of each tile (s2 = -err + |P - b|^2), [N,1] or at keep 0 [N]; its node joins the graph at the
        first call."""
        name = "dd" if keep else "dd_1d"
        if not any(x.output[0] == name for x in nodes):
            nodes.append(n("ReduceSumSquare", ["d"], [name], axes=[1], keepdims=keep))
        return name

    # the quantile pick reads the phase u itself, not its bin
    nodes = _phi_nodes(n) + route_nodes + (_bin_nodes(n) if pick == "key" else _bin_nodes(n)[:3]) + [
        n("Concat", ["mask", "neg"], ["mask_pad"], axis=0),
        # which table: 0 at tolerance 0, else 1; its width, row offset and key-row offset
        n("Greater", ["tolerance", "zero"], ["varied_b"]),
        n("Cast", ["varied_b"], ["which"], to=TensorProto.INT64),                 # [1]
        n("Gather", ["widths", "which"], ["M"], axis=0),
        n("Gather", ["row_offsets", "which"], ["row_off"], axis=0),
    ] + ([n("Gather", ["key_offsets", "which"], ["key_off"], axis=0)] if pick == "key" else []) + [
        n("Concat", ["minus1", "M"], ["shape_nm"], axis=0),
        n("Concat", ["shape_w", "M"], ["shape_w3"], axis=0),
    ]
    # one table and no per-tile background choice: the members' weights stay a constant [K,20,M] and the mask joins
    # their biases [K,1,M] after each part's MatMul (concatenating both per run copied the whole table, about 0.4 ms
    # per batch at 2 threads); the same sums
    # two tables of one width (export.py --exact-table) stay apart too: one constant of both tables' weights [2K,20,M],
    # the rows of the one the tolerance picks (kr = k + its row offset)
    apart = (len(tables) == 1 or (len(tables) == 2 and M0 == M1 and pick == "quantile")) and not choice
    flat_w, flat_t, pmasks, w20s = [], [], [], []
    for t, table in enumerate(tables):
        Mt = table.shape[1]
        memb_w = full_pad[table].transpose(0, 2, 1)              # [K,21,Mt]
        init[f"members_{t}"] = i64(table)
        w20 = memb_w[:, :20] + gains[t] if choice else memb_w[:, :20]            # (+ 0 would turn -0.0 into 0.0)
        if apart:
            w20s.append(f32(w20))                                                    # joined after the loop
            init.setdefault("memb_w20_0", None)                                      # (its place in the file)
        else:
            init[f"memb_w20_{t}"] = f32(w20.reshape(K, 20 * Mt))
        init[f"memb_b_{t}"] = f32(memb_w[:, 20])
        if choice:
            init[f"memb_blk_{t}"] = f32(blacks[t])
        nodes += [
            # per run: the mask joins each member's bias (row 21 of its weights), and each prototype's
            n("Gather", ["mask_pad", f"members_{t}"], [f"slot_mask_{t}"], axis=0),      # [K,Mt]
            n("ReduceMax", [f"slot_mask_{t}"], [f"proto_mask_{t}"], axes=[1], keepdims=0),
            n("Add", [f"memb_b_{t}", f"slot_mask_{t}"], [f"memb_bm_{t}"]),
        ] + ([] if apart else [
            n("Concat", [f"memb_w20_{t}", f"memb_bm_{t}"] + ([f"memb_blk_{t}"] if choice else []), [f"memb_w_{t}"],
              axis=1),
            n("Reshape", [f"memb_w_{t}", "minus1"], [f"flat_w_{t}"]),
        ])
        if pick == "key":
            nodes += [
                # folded at load: the members' keys per (phase bin, prototype), flat
                n("Gather", ["keys", f"members_{t}"], [f"memb_k3_{t}"], axis=1),       # [bins,K,Mt]
                n("Reshape", [f"memb_k3_{t}", "minus1"], [f"flat_t_{t}"]),
            ]
        flat_w.append(f"flat_w_{t}")
        flat_t.append(f"flat_t_{t}")
        pmasks.append(f"proto_mask_{t}")
    if apart:
        # the members' weights [K,20,M] (two tables: [2K,20,M]) and their biases with the run's mask [K,1,M] ([2K,1,M])
        init["memb_w20_0"] = np.concatenate(w20s)
        nodes += ([n("Concat", [f"memb_bm_{t}" for t in range(len(tables))], ["memb_bm_cat"], axis=0)]
                  if len(tables) > 1 else []) + [
            n("Unsqueeze", ["memb_bm_cat" if len(tables) > 1 else "memb_bm_0", "axis1"], ["memb_b3"])]
        for k in ("pad_w", "shape_w"):
            init.pop(k)
        nodes = [x for x in nodes if x.output[0] != "shape_w3"]
    else:
        nodes += [
            n("Concat", flat_w + ["pad_w"], ["w_cat"], axis=0),
            n("Reshape", ["w_cat", "shape_w3"], ["memb_w"]),                      # [rows,21 or 22,M]
        ]
    if choice:
        # the 22nd column: 1 (no slot over black) for a tile brighter than choice_level, or at choice 0
        init["ch_level"] = f32([choice_level + 0.5])   # the rounded mean (domain::quads_mean) <= level
        init["ch_one"] = f32([1.0])
        nodes += [
            n("GreaterOrEqual", [brightest(), "ch_level"], ["ch_bright"]),
            n("Cast", ["ch_bright"], ["ch_brightf"], to=TensorProto.FLOAT),
            n("Sub", ["ch_one", "choice"], ["ch_off"]),
            n("Max", ["ch_brightf", "ch_off"], ["ch_col"]),
            n("Concat", ["phi1", "ch_col"], ["phi1c"], axis=1),                   # [N,22]
        ]
    if pick == "key":
        nodes += [
            n("Concat", flat_t + ["pad_t"], ["t_cat"], axis=0),
            n("Reshape", ["t_cat", "shape_nm"], ["memb_t"]),                      # [key rows,M]
        ]
    else:
        for k in ("keys", "pad_t", "bins_f", "bins_max", "k_const", "key_offsets", "minus1f"):
            init.pop(k)
    nodes += [
        n("Where", ["varied_b", pmasks[-1], pmasks[0]], ["proto_mask"]),
        # stage 1: nearest prototype with an allowed member
        n("Add", ["proto_b", "proto_mask"], ["proto_bias"]),
        n("MatMul", ["P", "proto_w12"] if route_black else ["phi_r" if route_flat else "phi", "proto_w"], ["s1a"]),
        n("Add", ["s1a", "proto_bias"], ["s1"]),
        n("TopK", ["s1", "k1"], ["s1v", "k2"], axis=1),
        n("Reshape", ["k2", "minus1"], ["k"]),
    ]
    if dark_rows:
        # a dark tile's prototype k reads row K0 + k; stage 1 allows the prototypes allowed in both halves
        assert one_d and not route_rows
        K0 = K // 2
        init["shape_2k"] = i64([2, K0])
        init["k_half"] = i64([K0])
        init["dr_level"] = f32([dark_budget[2]])
        nodes[-5].input[1] = "proto_mask_both"
        nodes[-1].output[0] = "k0"
        nodes[-5:-5] = [n("Reshape", ["proto_mask", "shape_2k"], ["proto_mask2"]),
                        n("ReduceMin", ["proto_mask2"], ["proto_mask_both"], axes=[0], keepdims=0)]   # [K0]
        dark_nodes = [n("ReduceMax", ["P"], ["dr_pmax"], axes=[1], keepdims=0),      # the brightest quadrant channel
                      n("LessOrEqual", ["dr_pmax", "dr_level"], ["dr_dark"])]
        s1_at = next(i for i, x in enumerate(nodes) if x.output[0] == "s1a")
        if dark_protos:
            pen = np.where(np.arange(K0) >= K0 - dark_protos, NEG, 0.0)[None, :]
            init["proto_w_pen"] = f32(np.concatenate([init["proto_w"], pen], 0))     # [21,K0]
            dark_nodes += [n("Not", ["dr_dark"], ["dr_bright"]),
                           n("Cast", ["dr_bright"], ["dr_bright_f"], to=TensorProto.FLOAT),
                           n("Unsqueeze", ["dr_bright_f", "axis1"], ["dr_bright_c"]),   # [N,1]
                           n("Concat", [nodes[s1_at].input[0], "dr_bright_c"], ["phi_s1"], axis=1)]
            nodes[s1_at].input[0] = "phi_s1"
            nodes[s1_at].input[1] = "proto_w_pen"
        nodes[s1_at:s1_at] = dark_nodes
        nodes += [n("Cast", ["dr_dark"], ["dr_dark_i"], to=TensorProto.INT64),
                  n("Mul", ["dr_dark_i", "k_half"], ["dr_off"]),
                  n("Add", ["k0", "dr_off"], ["k"])]
    if route_rows:
        # a routed tile's prototype k reads row K0 + k; each half has its own prototype mask
        K0 = K // 2
        init["shape_2k"] = i64([2, K0])
        init["k_half"] = i64([K0])
        nodes[-5].input[1] = "proto_mask2"
        nodes[-5].output[0] = "proto_bias2"                                      # [2,K0]
        nodes[-3].input[1] = "proto_bias_n"
        nodes[-1].output[0] = "k0"
        nodes[-5:-5] = [n("Reshape", ["proto_mask", "shape_2k"], ["proto_mask2"])]
        nodes[-3:-3] = [
            n("Cast", ["flat_b"], ["flat_i2"], to=TensorProto.INT64),
            n("Reshape", ["flat_i2", "minus1"], ["flat_i"]),                       # [N]
            n("Gather", ["proto_bias2", "flat_i"], ["proto_bias_n"], axis=0),      # [N,K0]
        ]
        nodes += [n("Mul", ["flat_i", "k_half"], ["k_off"]),
                  n("Add", ["k0", "k_off"], ["k"])]
    nodes += [
        # stage 2: the members' scores (disallowed ones at -1e9) ...
        n("Add", ["k", "row_off"], ["kr"]),
    ]
    if widen_sat:
        # whether each tile's background is saturated, as a count penalty (per tile, so computed before stage 2
        # runs in parts): the widening's count test then reads it with one Add
        init["ws_sat"] = f32([widen_sat[2]])
        init["ws_big"] = f32([1e9])
        if not (route_flat and route_sat):                                        # else routing made bg_sat
            nodes += [
                n("ReduceMax", ["background"], ["bg_max"], axes=[1], keepdims=1),   # [N,1]
                n("ReduceMin", ["background"], ["bg_min"], axes=[1], keepdims=1),
                n("Sub", ["bg_max", "bg_min"], ["bg_sat"]),
            ]
        nodes += [
            n("Less", ["bg_sat", "ws_sat"], ["ws_grey"]),
            n("Cast", ["ws_grey"], ["ws_greyf"], to=TensorProto.FLOAT),
            n("Mul", ["ws_greyf", "ws_big"], ["ws_pen0" if widen_pale else "ws_pen"]),  # [N,1] ([N]): 0 saturated, else 1e9
        ]
        if widen_pale:
            # a pale near-flat tile that is not saturated (its background's smallest channel >= level, every
            # quadrant within route_flat of it) widens with fewer than `count` members within the first rung: its
            # penalty is the saturated count minus its own, so the same Add and Less read it
            assert route_flat and route_sat and one_d, "the pale test reads the routing's flat test"
            init["wp_level"] = f32([widen_pale[0]])
            init["wp_off"] = f32([widen_sat[0] - widen_pale[1]])
            init["wp_factor"] = f32([widen_pale[2]])
            nodes += [
                n("GreaterOrEqual", ["bg_min", "wp_level"], ["wp_light"]),
                n("And", ["wp_light", "flat_b0"], ["wp_flat"]),
                n("And", ["wp_flat", "ws_grey"], ["wp_b"]),
                n("Where", ["wp_b", "wp_off", "ws_pen0"], ["ws_pen"]),
            ]
    if dark:
        # [N,1]: 1e9 for a tile brighter than `level` (it fails the dark rung's count), else 0
        init["dk_level"] = f32([dark[2]])
        nodes += [
            n("Greater", [brightest(), "dk_level"], ["dk_bright"]),
        ]
        if not dark_swap:                                                         # (swap reads dk_bright itself)
            init["dk_big"] = f32([1e9])
            nodes += [
                n("Cast", ["dk_bright"], ["dk_brightf"], to=TensorProto.FLOAT),
                n("Mul", ["dk_brightf", "dk_big"], ["dk_pen"]),
            ]
    if apart:
        # stage 2 in the parts: gather the members' weights, MatMul, gather their biases, Add ([n,1,M] each); the
        # parts' scores joined, then one Reshape
        nodes.append(n("Unsqueeze", ["phi", "axis1"], ["f3"]))                   # [N,1,20]
        stage2_in = "f3"
    else:
        stage2_in = "phi1c" if choice else "phi1"
    stage2_from = len(nodes)
    nodes += ([
        n("Gather", ["memb_w20_0", "kr"], ["g_w"], axis=0),                       # [N,20,M]
        n("MatMul", ["f3", "g_w"], ["s2w3"]),
        n("Gather", ["memb_b3", "kr"], ["g_b"], axis=0),                          # [N,1,M]
        n("Add", ["s2w3", "g_b"], ["s2a3"]),
    ] if apart else [
        n("Gather", ["memb_w", "kr"], ["g_w"], axis=0),                           # [N,21,M]
        n("Unsqueeze", [stage2_in, "axis1"], ["f3"]),                             # [N,1,21 or 22]
        n("MatMul", ["f3", "g_w"], ["s2a3"]),
    ]) + [
        n("Reshape", ["s2a3", "shape_nm"], ["s2"]),
        # ... and among those within the tolerance of the best, the highest key
        n("ReduceMax", ["s2"], ["best"], axes=[1], keepdims=1),                   # [N,1]
    ]
    if relative:
        # e = |d|^2 - best (s2 = -err + |d|^2)
        dd = tile_dd()
        init["rel_k"] = f32([relative[0] / VARIETY_UNIT])
        init["rel_floor"] = f32([relative[1] / VARIETY_UNIT])
        nodes += [
            n("Sub", [dd, "best"], ["e_best"]),
            n("Mul", ["e_best", "rel_k"], ["e_k"]),
            n("Add", ["e_k", "rel_floor"], ["e_kf"]),
            n("Mul", ["e_kf", "tolerance"], ["tol_rel"]),
            n("Min", ["tol_rel", "tolerance"], ["tol_t"]),                        # [N,1]
            n("Sub", ["best", "tol_t"], ["thr0"]),
        ]
    elif not ladder:                                                              # the ladder makes its own threshold
        nodes.append(n("Sub", ["best", "tolerance"], ["thr0"]))
    if isinstance(narrow, tuple):
        # more than `count` members within the tolerance: only those within factor * tolerance (one count,
        # no sort; the TopK form below costs about 2x the whole graph)
        init["narrow_count"] = f32([narrow[0]])
        init["narrow_factor"] = f32([narrow[1]])
        nodes[-1].output[0] = "thr00"
        nodes += [
            n("GreaterOrEqual", ["s2", "thr00"], ["nwithin"]),
            n("Cast", ["nwithin"], ["nwithinf"], to=TensorProto.FLOAT),
            n("ReduceSum", ["nwithinf", "axis1"], ["ncnt"], keepdims=1),         # [N,1]
            n("Greater", ["ncnt", "narrow_count"], ["many"]),
            n("Mul", ["tolerance", "narrow_factor"], ["tol_narrow"]),
            n("Sub", ["best", "tol_narrow"], ["thr_narrow"]),
            n("Where", ["many", "thr_narrow", "thr00"], ["thr0"]),
        ]
    elif narrow:
        # at most the `narrow` best members (and ties) within the tolerance: where many emoji are near
        # (smooth grey or pale areas) the pick stays among the nearest of them
        init["narrow_k"] = i64([narrow])
        init["nar_last"] = i64([-1])
        init["nar_axis1"] = i64([1])
        init["nar_big"] = i64([1 << 30])
        nodes[-1].output[0] = "thr00"
        nodes += [
            n("TopK", ["s2", "narrow_k"], ["ntopv", "ntopi"], axis=1),            # [N,narrow]
            n("Slice", ["ntopv", "nar_last", "nar_big", "nar_axis1"], ["nvk"]),        # [N,1]: the narrow-th best
            n("Max", ["thr00", "nvk"], ["thr0"]),
        ]
    if widen and widen[0] < 0:
        # the -count best members within factor * tolerance, when fewer are within the tolerance
        count, factor = -widen[0], widen[1]
        init["widen_k"] = i64([count])
        init["widen_factor"] = f32([factor])
        init["last"] = i64([-1])
        init["axis1e"] = i64([1])
        init["big_last"] = i64([1 << 30])
        nodes += [
            n("TopK", ["s2", "widen_k"], ["topv", "topi"], axis=1),              # [N,count]
            n("Slice", ["topv", "last", "big_last", "axis1e"], ["vk"]),          # [N,1]: the count-th best
            n("Mul", ["tolerance", "widen_factor"], ["tol_wide"]),
            n("Sub", ["best", "tol_wide"], ["thr_wide"]),
            n("Max", ["vk", "thr_wide"], ["thr_k"]),
            n("Min", ["thr0", "thr_k"], ["thr"]),
        ]
    elif widen:
        count, factor = widen
        init["widen_count"] = f32([count])
        init["widen_factor"] = f32([factor])
        nodes += [
            n("GreaterOrEqual", ["s2", "thr0"], ["within0"]),
            n("Cast", ["within0"], ["within0f"], to=TensorProto.FLOAT),
            n("ReduceSum", ["within0f", "axis1"], ["cnt"], keepdims=1),          # [N,1]
            n("Less", ["cnt", "widen_count"], ["few"]),
            n("Mul", ["tolerance", "widen_factor"], ["tol_wide"]),
            n("Sub", ["best", "tol_wide"], ["thr_wide"]),
            n("Where", ["few", "thr_wide", "thr0"], ["thr"]),
        ]
    elif ladder and dark_budget:
        # the ladder's one rung, whose tolerance for a dark tile is its budget (at least its second best, at most
        # T): the same one comparison of every member; absolute tolerances, [N] per tile
        count, fracs = ladder
        assert len(fracs) == 1 and not dark, "the dark budget replaces the one rung"
        k_b, c_b, level_b = dark_budget
        wcount, factor, _ = widen_sat
        init.update({"db_k": f32([k_b / 1500.0]), "db_c": f32([c_b / 1500.0]), "db_level": f32([level_b]),
                     "db_count": f32([2.0]), "db_tie": f32([1.0001]), "db_neg": f32([NEG]), "lad_fr": f32([fracs[0]]),
                     "lad_count": f32([count]), "lad_one": f32([1.0]), "axes12": i64([1, 2]),
                     "shape_n11": i64([-1, 1, 1]), "ws_count": f32([wcount]), "ws_factor": f32([factor])})
        if narrow_textured:
            assert route_flat, "the narrowing reads the routing's flat test"
            init["nt_f"] = f32([narrow_textured])
        if dark_cap:
            init["dc_f"] = f32([dark_cap])
        count_f = flat_frame[4] if flat_frame else None
        if flat_frame:
            assert route_flat, "the flat frame's cap reads the routing's flat test"
            k_f, lo_f, hi_f, black_lut = flat_frame[:4]
            allow_f = flat_frame[5] if len(flat_frame) > 5 else 0.0
            # [1]: the gate g = clip((frame_flat - LO) / (HI - LO), 0, 1)
            ff_gate = [
                n("Sub", ["frame_flat", "ff_lo"], ["ff_s0"]),
                n("Mul", ["ff_s0", "ff_scale"], ["ff_s1"]),
                n("Max", ["ff_s1", "zero"], ["ff_s2"]),
                n("Min", ["ff_s2", "lad_one"], ["ff_g"]),                              # [1]: g, 0..1
            ]
            if allow_f:
                init["ff_allow"] = f32([allow_f])
            if detail_cap:
                assert allow_f, "the detail cap reads frame_black"
                init.update({"dcp_k": f32([detail_cap[0]]), "dcp_c": f32([detail_cap[1]]),
                             "dcp_hinv": f32([1.0 / detail_cap[2]])})
            if count_f:
                per_f, exempt_f, most_f = count_f[:3]
                bisect_f = int(count_f[3]) if len(count_f) > 3 else 0
                init.update({"ff_per": f32([per_f]), "ff_two": f32([2.0]), "ff_most": f32([most_f]),
                             "ff_exempt": f32([exempt_f]), "ff_onei": f32([1.0])})
                if not bisect_f:
                    init["ff_kk"] = i64([int(most_f)])
            steps = round(len(black_lut) ** (1 / 3))
            assert steps ** 3 == len(black_lut), "the table is a cube"
            init.update({"ff_lo": f32([lo_f]), "ff_scale": f32([1.0 / (hi_f - lo_f)]), "ff_k": f32([k_f]),
                         "ff_four": f32([4.0]), "ff_step": f32([(steps - 1) / 255.0]),
                         "ff_stride": f32([[steps * steps], [steps], [1]]), "ff_black": f32(black_lut),
                         "ff_mean_w": f32(np.tile(np.eye(3), (4, 1)) / 4.0)})
        nodes += [
            # [1]: the run's constants
            n("Mul", ["tolerance", "lad_fr"], ["lad_t03"]),
            n("Mul", ["tolerance", "ws_factor"], ["ws_t0" if widen_pale else "ws_t"]),
            n("Mul", ["tolerance", "db_k"], ["db_kt"]),
            n("Mul", ["dark_budget", "db_c"], ["db_cb"]),
            n("Mul", ["db_cb", "tolerance"], ["db_cbt"]),
            n("Min", ["tolerance", "lad_one"], ["db_on"]),                         # 0 at T = 0, else 1
            n("Mul", ["db_on", "db_tie"], ["db_on1"]),
            # [N]: a dark tile's budget, (k e + c B) T / 1500, e its best member's error
            n("Reshape", ["best", "minus1"], ["best1"]),
            n("Sub", [tile_dd(0), "best1"], ["db_e"]),
            n("Mul", ["db_e", "db_kt"], ["db_ek"]),
            n("Add", ["db_ek", "db_cbt"], ["db_t"]),
            # ... at least its second best member (two candidates), at most T
            n("GreaterOrEqual", ["s2", "best"], ["db_top"]),                      # [N,M]
            n("Cast", ["db_top"], ["db_topf"], to=TensorProto.FLOAT),
            n("Mul", ["db_topf", "db_neg"], ["db_pen"]),
            n("Add", ["s2", "db_pen"], ["db_rest"]),
            n("ReduceMax", ["db_rest"], ["db_second"], axes=[1], keepdims=0),     # [N]
            n("Sub", ["best1", "db_second"], ["db_gap"]),
            n("Mul", ["db_gap", "db_on1"], ["db_gap1"]),
        ] + ([
            n("Mul", ["tolerance", "dc_f"], ["dc_t"]),                             # the cap, F T
            n("Min", ["db_t", "dc_t"], ["db_tc"]),
        ] if dark_cap else []) + [
            n("Max", ["db_tc" if dark_cap else "db_t", "db_gap1"], ["db_t2"]),
            n("Min", ["db_t2", "tolerance"], ["db_t3"]),
            n("ReduceMax", ["P"], ["db_pmax"], axes=[1], keepdims=0),             # the brightest quadrant channel
            n("LessOrEqual", ["db_pmax", "db_level"], ["db_dark"]),
            n("Where", ["db_dark", "db_t3", "lad_t03"], ["lad_t1"]),               # the rung's tolerance
            n("Where", ["db_dark", "db_count", "lad_count"], ["lad_need"]),        # and how many it needs
            n("Sub", ["best1", "lad_t1"], ["lad_thr1"]),
            n("Reshape", ["lad_thr1", "shape_n11"], ["lad_thr"]),                  # [N,1,1]
            n("Unsqueeze", ["s2", "axis1"], ["s2_3"]),                             # [N,1,M]
            n("GreaterOrEqual", ["s2_3", "lad_thr"], ["lad_ge"]),
            n("Cast", ["lad_ge"], ["lad_gef"], to=TensorProto.FLOAT),
            n("ReduceSum", ["lad_gef", "axes12"], ["lad_cnt"], keepdims=0),        # [N]
            n("GreaterOrEqual", ["lad_cnt", "lad_need"], ["lad_ok"]),
        ] + ([
            # a tile with detail that fails the rung: within F T (at least its second best, at most T); a nearly
            # flat one (the routing's test: every quadrant within route_flat of the background) within T
            n("Mul", ["tolerance", "nt_f"], ["nt_ft"]),
            n("Max", ["nt_ft", "db_gap1"], ["nt_t0"]),
            n("Min", ["nt_t0", "tolerance"], ["nt_t1"]),
            n("Where", ["flat_b0", "tolerance", "nt_t1"], ["nt_else"]),
        ] if narrow_textured else []) + [
            n("Where", ["lad_ok", "lad_t1", "nt_else" if narrow_textured else "tolerance"], ["lad_tmin"]),
            # the saturated widening reads the same count (a dark tile is never saturated: its channels <= level)
            n("Add", ["lad_cnt", "ws_pen"], ["ws_cntp"]),
            n("Less", ["ws_cntp", "ws_count"], ["ws_b"]),
        ] + ([
            # a pale tile's own factor
            n("Mul", ["tolerance", "wp_factor"], ["wp_t"]),
            n("Where", ["wp_b", "wp_t", "ws_t0"], ["ws_t"]),
        ] if widen_pale else []) + [
            n("Where", ["ws_b", "ws_t", "lad_tmin"], ["tol_t0" if flat_frame else "tol_t"]),
        ] + ([
            # in a frame of nearly one flat colour a nearly flat tile keeps within the picture before issue 15: its
            # tolerance at most K x (the best error over black of a flat tile of its mean colour, from the table, plus
            # its detail) - its best error, at least its second best; by the gate g (frame_flat from LO to HI: 0..1)
            # tol - g relu(tol - cap), exactly tol in a frame with a scene in it (g = 0)
            n("MatMul", ["P", "ff_mean_w"], ["ff_m"]),                             # [N,3] the tile's mean colour
            n("Mul", ["ff_m", "ff_step"], ["ff_mi0"]),
            n("Round", ["ff_mi0"], ["ff_mi"]),
            n("MatMul", ["ff_mi", "ff_stride"], ["ff_i0"]),                        # [N,1] its cell in the table
            n("Reshape", ["ff_i0", "minus1"], ["ff_i1"]),
            n("Cast", ["ff_i1"], ["ff_i"], to=TensorProto.INT64),
            n("Gather", ["ff_black", "ff_i"], ["ff_eb"], axis=0),                  # [N]
            n("ReduceSumSquare", ["P"], ["ff_pp"], axes=[1], keepdims=0),
            n("ReduceSumSquare", ["ff_m"], ["ff_mm"], axes=[1], keepdims=0),
            n("Mul", ["ff_mm", "ff_four"], ["ff_mm4"]),
            n("Sub", ["ff_pp", "ff_mm4"], ["ff_detail"]),                          # sum_q |P_q - m|^2
            n("Add", ["ff_eb", "ff_detail"], ["ff_e0"]),
            n("Mul", ["ff_e0", "ff_k"], ["ff_e1"]),
        ] + ([
            # outside a flat frame the cap also allows C x frame_black (the frame's mean of e_black + detail over
            # its tiles: what the picture before issue 15 spent per tile), fading out as the flat share's gate g
            # rises, and the cap then holds whatever the flat share
        ] + ff_gate + [
            n("Sub", ["lad_one", "ff_g"], ["ffa_ng"]),
            n("Mul", ["frame_black", "ff_allow"], ["ffa_b"]),
            n("Mul", ["ffa_b", "ffa_ng"], ["ffa_a"]),                               # [1]
            n("Add", ["ff_e1", "ffa_a"], ["ff_e1a"]),
        ] if allow_f else []) + [
            n("Sub", ["ff_e1a" if allow_f else "ff_e1", "db_e"], ["ff_cap0"]),
            n("Max", ["ff_cap0", "db_gap1"], ["ff_capb" if count_f else "ff_cap"]),
        ] + ([
            # ... and at least the n-th best member's distance, n = ceil(per x frame_flat) within 2..most (2 from
            # the exempt share on): enough candidates that the frame's flat colour repeats no emoji on more than
            # about 1 / per of the frame
            n("Mul", ["frame_flat", "ff_per"], ["ff_n0"]),
            n("Ceil", ["ff_n0"], ["ff_n1"]),
            n("Max", ["ff_n1", "ff_two"], ["ff_n2"]),
            n("Min", ["ff_n2", "ff_most"], ["ff_n3"]),
            n("GreaterOrEqual", ["frame_flat", "ff_exempt"], ["ff_ex"]),
            n("Where", ["ff_ex", "ff_two", "ff_n3"], ["ff_n4"]),                   # [1]: n
        ] + (_nth_bisect(n, init, bisect_f) if bisect_f else [
            n("TopK", ["s2", "ff_kk"], ["ff_topv", "ff_topi"], axis=1),            # [N,most]
            n("Sub", ["ff_n4", "ff_onei"], ["ff_n5"]),
            n("Cast", ["ff_n5"], ["ff_ni"], to=TensorProto.INT64),                  # [1]
            n("Gather", ["ff_topv", "ff_ni"], ["ff_vn"], axis=1),                   # [N,1]
            n("Reshape", ["ff_vn", "minus1"], ["ff_vn1"]),
            n("Sub", ["best1", "ff_vn1"], ["ff_gapn"]),
            n("Mul", ["ff_gapn", "db_on1"], ["ff_gapn1"]),
            n("Max", ["ff_capb", "ff_gapn1"], ["ff_cap"]),
        ]) if count_f else []) + [
            n("Sub", ["tol_t0", "ff_cap"], ["ff_over0"]),
            n("Relu", ["ff_over0"], ["ff_cut" if allow_f else "ff_over"]),        # with the allowance: whatever g
        ] + ([] if allow_f else ff_gate + [
            n("Mul", ["ff_over", "ff_g"], ["ff_cut"]),
        ]) + [

            n("Sub", ["tol_t0", "ff_cut"], ["ff_t"]),
        ] + ([
            # a tile with detail keeps within KD x (e_black + h(detail)) + CD x frame_black of its best error (at
            # least its second best): h(d) = d / (1 + sqrt(d) / H), about what the picture before issue 15 spent
            # on a tile of that colour and detail
            n("Relu", ["ff_detail"], ["dcp_d"]),
            n("Sqrt", ["dcp_d"], ["dcp_s"]),
            n("Mul", ["dcp_s", "dcp_hinv"], ["dcp_s1"]),
            n("Add", ["dcp_s1", "lad_one"], ["dcp_s2"]),
            n("Div", ["dcp_d", "dcp_s2"], ["dcp_h"]),
            n("Add", ["ff_eb", "dcp_h"], ["dcp_b"]),
            n("Mul", ["dcp_b", "dcp_k"], ["dcp_b1"]),
            n("Mul", ["frame_black", "dcp_c"], ["dcp_a"]),                          # [1]
            n("Add", ["dcp_b1", "dcp_a"], ["dcp_b2"]),
            n("Sub", ["dcp_b2", "db_e"], ["dcp_cap0"]),
            n("Max", ["dcp_cap0", "db_gap1"], ["dcp_cap"]),
            n("Min", ["tol_t0", "dcp_cap"], ["dcp_t"]),
        ] if detail_cap else []) + [
            n("Where", ["flat_b0", "ff_t", "dcp_t" if detail_cap else "tol_t0"], ["tol_t"]),
        ] if flat_frame else []) + [
            n("Sub", ["best1", "tol_t"], ["thr1"]),
            n("Unsqueeze", ["thr1", "axis1"], ["thr"]),                            # [N,1]
        ]
    elif ladder:
        count, fracs = ladder
        counts = [count] * len(fracs)
        if dark and not dark_swap:
            # the dark rung comes last (the widening reads the first rung's count); the rung taken is the smallest
            # fraction whose count is met, so the order does not matter otherwise
            fracs, counts = list(fracs) + list(dark[1]), counts + [dark[0]] * len(dark[1])
        R = len(fracs)
        if not dark_swap:                                                         # (swap makes per-tile ones)
            init["lad_count"] = f32(counts if dark else [count])
        init["lad_one"] = f32([1.0])
        if not dark_swap:
            init["lad_fr_col"] = f32(np.reshape(fracs, (R, 1)))
        init["lad_fr_row"] = f32(np.reshape(fracs, (1, R)))
        init["axis2"] = i64([2])
        if dark_swap:
            # a dark tile's rungs are its own (the same number, so no extra comparison): per tile fractions
            assert len(dark[1]) == R
            init["dk_fr_row"] = f32(np.reshape(dark[1], (1, R)))
            init["dk_count"] = f32([dark[0]])
            init["lad_count1"] = f32([count])
            nodes += [
                n("Where", ["dk_bright", "lad_fr_row", "dk_fr_row"], ["lad_fr_t"]),      # [N,R]
                n("Where", ["dk_bright", "lad_count1", "dk_count"], ["lad_count_t"]),    # [N,1]
                n("Unsqueeze", ["lad_fr_t", "axis2"], ["lad_fr_t3"]),                   # [N,R,1]
                n("Mul", ["tolerance", "lad_fr_t3"], ["lad_tol"]),
            ]
        nodes += ([] if dark_swap else [n("Mul", ["tolerance", "lad_fr_col"], ["lad_tol"])]) + [   # [R,1]
            n("Unsqueeze", ["best", "axis2"], ["best3"]),                         # [N,1,1]
            n("Sub", ["best3", "lad_tol"], ["lad_thr"]),                          # [N,R,1]
            n("Unsqueeze", ["s2", "axis1"], ["s2_3"]),                            # [N,1,M]
            n("GreaterOrEqual", ["s2_3", "lad_thr"], ["lad_ge"]),                 # [N,R,M]
            n("Cast", ["lad_ge"], ["lad_gef"], to=TensorProto.FLOAT),
            n("ReduceSum", ["lad_gef", "axis2"], ["lad_cnt"], keepdims=0),        # [N,R]
        ]
        if dark and not dark_swap:
            init["dk_rung"] = f32(np.arange(R)[None, :] >= R - len(dark[1]))        # [1,R]: the dark rungs
            nodes += [
                n("Mul", ["dk_pen", "dk_rung"], ["dk_pen_r"]),                     # [N,R]
                n("Sub", ["lad_cnt", "dk_pen_r"], ["lad_cnt_d"]),
            ]
        nodes += [
            n("GreaterOrEqual", ["lad_cnt_d" if dark and not dark_swap else "lad_cnt",
                                 "lad_count_t" if dark_swap else "lad_count"], ["lad_ok"]),
            n("Where", ["lad_ok", "lad_fr_t" if dark_swap else "lad_fr_row", "lad_one"], ["lad_f" if R > 1 else "lad_fmin"]),
        ]
        if R > 1:
            nodes.append(n("ReduceMin", ["lad_f"], ["lad_fmin"], axes=[1], keepdims=1))  # [N,1]
        if widen_sat:
            wcount, factor, sat = widen_sat
            init["ws_count"] = f32([wcount])
            init["ws_factor"] = f32([factor])
            if R > 1:
                init["ws_first"] = i64([0])
                init["ws_end"] = i64([1])
                nodes.append(n("Slice", ["lad_cnt", "ws_first", "ws_end", "axis1"], ["ws_cnt"]))  # the first rung's
            nodes += [
                n("Add", ["ws_cnt" if R > 1 else "lad_cnt", "ws_pen"], ["ws_cntp"]),            # [N,1]
                n("Less", ["ws_cntp", "ws_count"], ["ws_b"]),
                n("Where", ["ws_b", "ws_factor", "lad_fmin"], ["lad_fw"]),
                n("Mul", ["tolerance", "lad_fw"], ["tol_t"]),
                n("Sub", ["best", "tol_t"], ["thr"]),
            ]
        else:
            nodes += [
                n("Mul", ["tolerance", "lad_fmin"], ["tol_t"]),
                n("Sub", ["best", "tol_t"], ["thr"]),
            ]
    else:
        nodes.append(n("Identity", ["thr0"], ["thr"]))
    if dark_rel:
        # a dark tile (the brightest channel of its mean <= level) keeps to within (k * e + floor) * T / 1500 of its
        # best, e the best member's error: variety on a dark flat area costs in proportion to how close the best is
        k_rel, floor_rel, level_rel = dark_rel
        init["dr_k"] = f32([k_rel / 1500.0])
        init["dr_floor"] = f32([floor_rel / 1500.0])
        init["dr_level"] = f32([level_rel])
        assert nodes[-1].output[0] == "thr"
        nodes[-1].output[0] = "thr_l"
        nodes += [
            n("Sub", [tile_dd(), "best"], ["dr_e"]),                             # the best member's error
            n("Mul", ["dr_e", "dr_k"], ["dr_ek"]),
            n("Add", ["dr_ek", "dr_floor"], ["dr_ekf"]),
            n("Mul", ["dr_ekf", "tolerance"], ["dr_tol"]),
            n("Sub", ["best", "dr_tol"], ["dr_thr"]),
            n("Max", ["thr_l", "dr_thr"], ["dr_thr2"]),
            n("LessOrEqual", [brightest(), "dr_level"], ["dr_dark"]),
            n("Where", ["dr_dark", "dr_thr2", "thr_l"], ["thr"]),
        ]
    nodes.append(n("GreaterOrEqual", ["s2", "thr"], ["within"]))                 # [N,M]
    if pick == "quantile":
        # the running count of members within, in two levels of small matrix products (ONNX Runtime's CumSum
        # measured 2.5 ms per 9216 x 96): inside blocks of B slots, then the blocks' totals before each block
        assert M0 == M1, "the quantile pick reads one table width"
        B = next(b for b in (8, 4, 2, 1) if M0 % b == 0)
        nb = M0 // B
        # [x, r] times these: the running count over the blocks (nb) or inside one block (B), less r; ONNX Runtime
        # compares [N,k] with [N,1] one row at a time, so r joins the product instead
        init["q_upper_r"] = f32(np.concatenate([np.triu(np.ones((nb, nb))), -np.ones((1, nb))]))    # [nb+1,nb]
        init["q_inner_r"] = f32(np.concatenate([np.triu(np.ones((B, B))), -np.ones((1, B))]))       # [B+1,B]
        init["q_join"] = f32([[B], [1]])                                          # block * B + slot in it
        init["q_shape3"] = i64([-1, nb, B])
        init["q_shape_b"] = i64([-1, B])
        init["q_zero_f"] = f32([0.0])
        init["q_zero0"] = np.array(0, np.int64)
        init["q_nb0"] = np.array(nb, np.int64)
        if not one_d:
            init["one_f"] = f32([1.0])
        if checker:
            # k = 2 (and 3) candidates: the phase frac((col + row) / k + 1 / 2k) from the same product as u (a Gemm
            # with a bias), so the rank floor(k u) is (col + row) mod k
            assert one_d and checker in (2, 3), "the checker reads the dark budget's [N,1] ones"
            ks = (2, 3)[:checker - 1]
            init["r2"] = f32([[R2_X] + [1 / k for k in ks], [R2_Y] + [1 / k for k in ks]])
            init["ck_bias"] = f32([0.0] + [1 / (2 * k) for k in ks])
            at = next(i for i, x in enumerate(nodes) if x.output[0] == "u")
            mm = next(i for i, x in enumerate(nodes) if x.output[0] == "u0")
            nodes[mm] = n("Gemm", ["position", "r2", "ck_bias"], ["u0"])              # [N,checker]
            nodes[at].output[0] = "u_both"
            init["ck_split"] = i64([1] * checker)
            nodes.append(n("Split", ["u_both", "ck_split"], ["u", "u_par", "u_tri"][:checker], axis=1))
        if integer_counts:
            # the flags as bytes, counted per block by one integer product (the Cast to float of [N,M] and the
            # ReduceSum over [N,nb,B] took about twice as long); the same counts
            init.pop("q_shape3")
            init["q_blocks_u8"] = np.kron(np.eye(nb), np.ones((B, 1))).astype(np.uint8)        # [M,nb]
            nodes += [
                n("Cast", ["within"], ["within_u8"], to=TensorProto.UINT8),
                n("MatMulInteger", ["within_u8", "q_blocks_u8"], ["q_blk_i"]),         # [N,nb] int32
                n("Cast", ["q_blk_i"], ["q_blk"], to=TensorProto.FLOAT),              # within per block
            ]
        else:
            nodes += [
                n("Cast", ["within"], ["within_f"], to=TensorProto.FLOAT),
                n("Reshape", ["within_f", "q_shape3"], ["q_w3"]),                     # [N,nb,B]
                n("ReduceSum", ["q_w3", "minus1"], ["q_blk"], keepdims=0),            # [N,nb]: within per block
            ]
        nodes.append(n("ReduceSum", ["q_blk", "minus1"], ["q_n"], keepdims=1))        # [N,1]: how many
        # n - 1 (one_d: against the [N,1] ones, same shapes, one call; [N,1] against [1] is one call per tile)
        last = n("Sub", ["q_n", "ones" if one_d else "one_f"], ["q_last"])
        nodes += ([last] if one_d else []) + ([
            n("Sub", ["q_last", "ones"], ["q_last2"]),
            n("Equal", ["q_last2", "ones"], ["ck_is3"]),                          # n = 3
            n("Where", ["ck_is3", "u_tri", "u"], ["u_q3"]),
        ] if checker == 3 else []) + ([
            n("Equal", ["q_last", "ones"], ["ck_is2"]),                           # n = 2
            n("Where", ["ck_is2", "u_par", "u_q3" if checker == 3 else "u"], ["u_q"]),
        ] if checker else []) + [
            n("Mul", ["u_q" if checker else "u", "q_n"], ["q_un"]),
            n("Floor", ["q_un"], ["q_r0"]),
        ] + ([] if one_d else [last]) + [
            n("Min", ["q_r0", "q_last"], ["q_r"]),                                # the rank r, 0..n-1
        ]
        nodes += [
            # the r-th within (from 0) is in block b: the blocks before it are those with at most r within up to
            # and including them (a running count over the nb block totals, not over every slot: ONNX Runtime's
            # CumSum took 2.5 ms, the earlier two-level running count over all M slots about 1 ms at 2 threads)
            n("Concat", ["q_blk", "q_r"], ["q_blk_r"], axis=1),                  # [N,nb+1]
            n("MatMul", ["q_blk_r", "q_upper_r"], ["q_cum_r"]),                   # [N,nb]: within up to each block, - r
            n("LessOrEqual", ["q_cum_r", "q_zero_f"], ["q_full"]),
            n("Cast", ["q_full"], ["q_full_f"], to=TensorProto.FLOAT),
            n("ReduceSum", ["q_full_f", "minus1"], ["q_b"], keepdims=1),          # [N,1]: b
            n("Mul", ["q_blk", "q_full_f"], ["q_skip2"]),
            n("ReduceSum", ["q_skip2", "minus1"], ["q_skip"], keepdims=1),        # [N,1]: within before block b
            n("Sub", ["q_r", "q_skip"], ["q_rb"]),                                # the rank inside block b
            # block b's B slots: row n * nb + b of the within flags as [N * nb, B]
            n("Shape", ["q_blk"], ["q_shape"]),
            n("Gather", ["q_shape", "q_zero0"], ["q_n0"], axis=0),                # N (a scalar)
            n("Mul", ["q_n0", "q_nb0"], ["q_rows_end"]),
            n("Range", ["q_zero0", "q_rows_end", "q_nb0"], ["q_rows"]),           # [N]: n * nb
            n("Reshape", ["q_b", "minus1"], ["q_b1"]),
            n("Cast", ["q_b1"], ["q_b64"], to=TensorProto.INT64),
            n("Add", ["q_rows", "q_b64"], ["q_row"]),
            n("Reshape", ["within_u8" if integer_counts else "within_f", "q_shape_b"], ["q_wb"]),  # [N * nb, B]
        ] + ([
            n("Gather", ["q_wb", "q_row"], ["q_sub_u8"], axis=0),
            n("Cast", ["q_sub_u8"], ["q_sub"], to=TensorProto.FLOAT),              # [N,B]
        ] if integer_counts else [
            n("Gather", ["q_wb", "q_row"], ["q_sub"], axis=0),                    # [N,B]
        ]) + [
            # ... where the slots before the r-th within are those with at most rb within so far
            n("Concat", ["q_sub", "q_rb"], ["q_sub_r"], axis=1),                  # [N,B+1]
            n("MatMul", ["q_sub_r", "q_inner_r"], ["q_in_r"]),                    # [N,B]: within so far, - rb
            n("LessOrEqual", ["q_in_r", "q_zero_f"], ["q_before_r"]),
            n("Cast", ["q_before_r"], ["q_before_f"], to=TensorProto.FLOAT),
            n("ReduceSum", ["q_before_f", "minus1"], ["q_jin"], keepdims=1),      # [N,1]
            n("Concat", ["q_b", "q_jin"], ["q_bj"], axis=1),
            n("MatMul", ["q_bj", "q_join"], ["q_j"]),                             # [N,1]: b * B + slots before
            n("Cast", ["q_j"], ["q_j64"], to=TensorProto.INT64),
            n("Reshape", ["q_j64", "minus1"], ["j"]),
        ]
    else:
        assert pick == "key", pick
        nodes += [
            n("Mul", ["bin", "k_const"], ["bk"]),
            n("Add", ["bk", "k"], ["bk1"]),
            n("Add", ["bk1", "key_off"], ["bki"]),
            n("Gather", ["memb_t", "bki"], ["g_t"], axis=0),                      # [N,M]
            n("Where", ["within", "g_t", "minus1f"], ["pick"]),
            n("ArgMax", ["pick"], ["j"], axis=1, keepdims=0),
        ]
    nodes += [
        n("Mul", ["kr", "M"], ["km"]),
        n("Add", ["km", "j"], ["slot"]),
        n("Gather", ["members_cat", "slot"], ["index"], axis=0),
    ]
    # the nodes that run in the parts: gather, MatMul, gather, add (apart: the reshape after the parts) or
    # gather, unsqueeze, MatMul, reshape
    scores_to, scores = stage2_from + 4, "s2a3" if apart else "s2"
    if chunks > 1 and chunk_scores and chunk_stage1:
        assert not apart, "stage 1 in the parts: only with the members' biases in their weights"
        # stage 1 (its [n, K] scores and their TopK) runs in the parts too
        assert nodes[scores_to - 1].output[0] == "s2" and not route_rows and not route_black
        s1_from = next(i for i, x in enumerate(nodes) if x.output[0] == "s1a")
        kr_at = next(i for i, x in enumerate(nodes) if x.output[0] == "kr")
        per_tile_nodes = nodes[kr_at + 1:stage2_from]                             # the widening's penalty: per tile
        stage = nodes[s1_from:kr_at + 1] + nodes[stage2_from:scores_to]
        nodes = (nodes[:s1_from] + per_tile_nodes
                 + _chunked(n, stage, [nodes[s1_from].input[0], stage2_in], chunks, init, ["s2", "k", "kr"])
                 + nodes[scores_to:])
    elif chunks > 1 and chunk_scores:
        assert nodes[scores_to - 1].output[0] == scores
        # cheaper_kernels: only the weights' gather and MatMul run in the parts; the biases are gathered and added
        # once after them ([N,1,M]: the same sums, without 2 x chunks small nodes)
        part_to = stage2_from + 2 if cheaper_kernels and apart else scores_to
        nodes = (nodes[:stage2_from] + _chunked(n, nodes[stage2_from:part_to], [stage2_in, "kr"],
                                                chunks, init, nodes[part_to - 1].output[0])
                 + nodes[part_to:])
    elif chunks > 1:
        nodes = nodes[:stage2_from] + _chunked(n, nodes[stage2_from:], [stage2_in, "kr", "k", "bin" if pick == "key" else "u"]
                                               + (["ws_pen"] if widen_sat else []), chunks, init)
    if route_zeroed:
        nodes = _route_zeroed(n, nodes)
    if cheaper_kernels:
        nodes = _cheaper_kernels(n, nodes, init, M0)
    if stage1_groups:
        at = next(i for i, x in enumerate(nodes) if x.op_type == "TopK" and x.output[1] == "k2")
        width = init["proto_w12" if route_black else "proto_w"].shape[-1]
        nodes[at:at + 1] = _first_max(n, init, nodes[at].input[0], "k2", width, stage1_groups, flat=cheaper_kernels)
    if stage1_parts > 1:
        assert not chunk_stage1, "stage 1 runs in its own parts or in stage 2's, not both"
        nodes = _stage1_in_parts(n, nodes, init, stage1_parts)
    if apart and not any("phi1" in x.input for x in nodes):
        nodes = [x for x in nodes if x.output[0] != "phi1"]                       # stage 2 reads phi and the biases
    if exact_more is not None:
        assert apart, "the lists' second halves are read as stage 2 reads the first"
        nodes = _exact_more(n, nodes, init, exact_more, full_pad, chunks,
                            groups=next((g for g in (48, 32, 64) if stage1_groups and (2 * M0) % g == 0), 0))
    inputs = _tile_inputs(C, choice=choice, budget=bool(dark_budget), flat=bool(flat_frame),
                          black=bool(flat_frame and len(flat_frame) > 5 and flat_frame[5]))
    model = elementwise_gathers(_model(nodes, inputs, [_index_output()],
                                       [numpy_helper.from_array(v, k) for k, v in init.items()], metadata))
    if exact_more is not None and exact_parts:
        model = exact_in_one_table(model, *exact_parts)
    blocked = exact_more is not None and exact_parts and chunks > 1 and stage2_block
    if exact_more is not None and chunks > 1 and stage2_parts and not blocked:
        model = stage2_capped_parts(model, *stage2_parts)
    if exact_more is not None and exact_parts and selected_biases:
        model = selected_table_biases(model)
    if blocked:
        model = stage2_blocked(model, stage2_block)
    if stage1_matmul_parts and stage1_parts > 1:
        model = stage1_matmul(model, *stage1_matmul_parts)
    return model


def exact_in_one_table(model, parts=EXACT_PARTS[0], least=EXACT_PARTS[1]):
    """The tolerance-0 search of _exact_more (the If's else branch) rewritten: each part of the batch gathers one
    [rows,20,2M] table, the exact lists' first halves beside their second halves (a Slice and a Concat of
    initializers, which ONNX Runtime folds when the session loads), with one MatMul, one [rows,1,2M] bias Gather
    and one Add, where it gathered two tables, ran two MatMuls, two bias Gathers and two Adds and joined them with
    a Concat; and the batch runs in `parts` parts of max(N / parts, `least`) tiles (the last takes the rest, any
    after it are empty) instead of 8 parts of N / 8, so a small frame's parts are not split finer than `least`
    and a large frame's gathered weights (15 KB a tile) stay in cache. The same scores, the same choices
    (models/EVAL.md, "The exact search in one table"); only the else branch and two constant nodes change."""
    top = model.graph
    iff = next(x for x in top.node if x.op_type == "If" and x.output[0] == "index")
    g = next(a.g for a in iff.attribute if a.name == "else_branch")
    rows = next(t for t in top.initializer if t.name == "memb_w20_x").dims[0]
    t = "xo_"
    top.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), t + k)
                           for k, v in {"rows_from": [0], "rows_to": [rows]}.items())
    # the exact table: its rows of stage 2's table (at tolerance 0 kr lies in 0..rows-1) beside its second halves
    folded = [helper.make_node("Slice", ["memb_w20_0", t + "rows_from", t + "rows_to", t + "rows_from"], [t + "w20_first"]),
              helper.make_node("Concat", [t + "w20_first", "memb_w20_x"], [t + "w20"], axis=2)]      # [rows,20,2M]
    stage = [helper.make_node("Gather", [t + "w20", "x_kr"], [t + "gw"], axis=0),                  # [n,20,2M]
             helper.make_node("MatMul", ["x_f3", t + "gw"], [t + "sw"]),                            # [n,1,2M]
             helper.make_node("Gather", [t + "b3", "x_kr"], [t + "gb"], axis=0),
             helper.make_node("Add", [t + "sw", t + "gb"], ["x_s3"])]
    search = [
        helper.make_node("Concat", ["memb_bm_0", "x_bm"], [t + "bm"], axis=1),                      # [rows,2M]
        helper.make_node("Unsqueeze", [t + "bm", "axis1"], [t + "b3"]),
    ] + _in_parts(top, t, stage, ["x_kr", "x_f3"], ["x_s3"], "x_zero_i", parts, parts, least, "Max")
    # replaced: the second halves' bias (x_b3) and everything from the part sizes to the joined scores (x_s3)
    names = [x.output[0] for x in g.node]
    at, to = names.index("x_b3"), names.index("x_s3")
    assert names.index("x_n_shape") == at + 3 and g.node[at + 1].output[0] == "x_kr", names[at:at + 4]
    nodes = list(g.node[:at]) + list(g.node[at + 1:at + 3]) + search + list(g.node[to + 1:])
    del g.node[:]
    g.node.extend(nodes)
    nodes = folded + list(top.node)
    del top.node[:]
    top.node.extend(nodes)
    _drop_unused(top)
    onnx.checker.check_model(model)
    return model


def _part_sizes(top, t, tiles, zero, parts, divisor, bound, op):
    """Nodes giving `t`sizes, the sizes of `parts` consecutive parts of the batch `tiles` ([N, ...]): each
    part = op(N / divisor, bound) tiles (op "Max": at least `bound`; "Min": at most), the parts filled in turn,
    the last taking the rest, any after the batch's end empty: min(max(N - i * part, 0), part). Their
    constants join `top`'s initializers; `zero` names a [1] int64 zero."""
    top.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), t + k) for k, v in {
        "divisor": [divisor], "bound": [bound], "steps": np.arange(parts),
        "not_last": [1] * (parts - 1) + [0], "last_cap": [0] * (parts - 1) + [2 ** 62]}.items())
    return [helper.make_node("Shape", [tiles], [t + "n_shape"]),
            helper.make_node("GatherElements", [t + "n_shape", zero], [t + "n_all"], axis=0),
            helper.make_node("Div", [t + "n_all", t + "divisor"], [t + "n_even"]),
            helper.make_node(op, [t + "n_even", t + "bound"], [t + "n_part"]),
            helper.make_node("Mul", [t + "steps", t + "n_part"], [t + "starts"]),
            helper.make_node("Mul", [t + "not_last", t + "n_part"], [t + "caps0"]),
            helper.make_node("Add", [t + "caps0", t + "last_cap"], [t + "caps"]),
            helper.make_node("Sub", [t + "n_all", t + "starts"], [t + "left"]),
            helper.make_node("Max", [t + "left", zero], [t + "left0"]),
            helper.make_node("Min", [t + "left0", t + "caps"], [t + "sizes"])]


def _in_parts(top, t, stage, per_tile, results, zero, parts, divisor, bound, op):
    """The nodes `stage` run on consecutive parts of the batch, sized by _part_sizes (the sizes' nodes and
    constants named with `t`): each of the [N, ...] tensors `per_tile` is split, each part's copy of `stage`
    reads its own parts of them and of what the stage makes (name_p{i}) and everything else as it is, and each
    of `results` (made by the stage) is the parts' outputs joined."""
    made = {o for x in stage for o in x.output}
    nodes = _part_sizes(top, t, per_tile[0], zero, parts, divisor, bound, op)
    nodes += [helper.make_node("Split", [x, t + "sizes"], [f"{x}_p{i}" for i in range(parts)], axis=0) for x in per_tile]
    for i in range(parts):
        nodes += [_renamed(x, lambda v: f"{v}_p{i}" if v in made or v in per_tile else v) for x in stage]
    nodes += [helper.make_node("Concat", [f"{r}_p{i}" for i in range(parts)], [r], axis=0) for r in results]
    return nodes


def _chunked_parts(old, tag=""):
    """The parts _chunked made of a stage among the nodes `old` (its sizes' names prefixed with `tag`): the first
    part's nodes named for the whole batch (name_c0 -> name), the splits, the joins, and for each node of `old`
    whether it belongs to the parts, their sizes, splits or joins (to be replaced)."""
    sizing = {tag + k for k in ("n_shape", "n_all", "n_part", "n_front", "n_last", "split_sizes")}
    splits = [x for x in old if x.op_type == "Split" and x.input[1] == tag + "split_sizes"]
    count = len(splits[0].output)
    part = [x for x in old if x.op_type != "Split" and all(o.endswith("_c0") for o in x.output)]
    joins = [x for x in old if x.op_type == "Concat" and x.input[0].endswith("_c0")]
    assert part and joins and all(len(x.input) == count for x in joins)
    ends = tuple(f"_c{i}" for i in range(count))
    gone = [x.output[0] in sizing or (x.op_type == "Concat" and x.input[0].endswith("_c0"))
            or any(o.endswith(ends) for o in x.output) for x in old]
    stage = [_renamed(x, lambda v: v[:-len("_c0")] if v.endswith("_c0") else v) for x in part]
    return stage, splits, joins, gone


def stage2_capped_parts(model, parts=STAGE2_PARTS[0], cap=STAGE2_PARTS[1]):
    """Stage 2's parts above tolerance 0 (the If's then branch: the defaults' path) rewritten: `parts` parts of
    min(N / c, `cap`) tiles, c the parts it had (8: N / 8 each), the last taking the rest and any after the batch's
    end empty, so a frame up to c x cap tiles is split as before and a larger one in parts of `cap` tiles, whose
    gathered weights (7.7 KB a tile) stay in cache (1920x1080, 20736 tiles: 24 parts of 864 instead of 8 of 2592).
    Each part runs the same nodes as before on its tiles; the same choices (models/EVAL.md, "The exact search in
    one table")."""
    top = model.graph
    iff = next(x for x in top.node if x.op_type == "If" and x.output[0] == "index")
    g = next(a.g for a in iff.attribute if a.name == "then_branch")
    old = list(g.node)
    stage, splits, joins, gone = _chunked_parts(old)
    new = _in_parts(top, "s2p_", stage, [x.input[0] for x in splits], [x.output[0] for x in joins], "zero_i",
                    parts, len(splits[0].output), cap, "Min")
    at = gone.index(True)
    nodes = old[:at] + new + [x for x, out in zip(old[at:], gone[at:]) if not out]
    del g.node[:]
    g.node.extend(nodes)
    _drop_unused(top)
    onnx.checker.check_model(model)
    return model


def _blocked_stage(t, f, kr, table, out, block, F):
    """Nodes and constants (named with `t`) giving `out` [N,1,M] = f[n] . table[kr[n]] for every tile n (f [N,F] or
    [N,1,F], kr [N] int64, table [rows,F,M]) without gathering a table row per tile: the tiles sorted by kr, each
    run of one row cut into blocks of `block` tiles (a run's last block padded with zero rows), one table row
    gathered per block and one batched MatMul [blocks,block,F] x [blocks,F,M]; each tile's scores read back from
    its block. Every block's rows are scored by ONNX Runtime's GEMM kernel, so a tile's scores depend only on its
    features and row, not on its block or neighbours."""
    c = {"block": [block], "block_m1": [block - 1], "zero": [0], "one": [1], "last": [-1], "end": [2 ** 62],
         "none": [-1], "shape_b": [-1, block], "shape_bf": [-1, block, F], "shape_m": [-1, 1, 0], "first_col": [0]}
    consts = [numpy_helper.from_array(np.asarray(v, np.int64), t + k) for k, v in c.items()]
    consts += [numpy_helper.from_array(np.asarray(0, np.int64), t + "zero0"),
               numpy_helper.from_array(np.asarray(1, np.int64), t + "one0"),
               numpy_helper.from_array(np.zeros((1, F), np.float32), t + "zero_row")]
    zeros = numpy_helper.from_array(np.array([0], np.int64))
    n = helper.make_node
    nodes = [
        n("Shape", [kr], [t + "n"]),                                                      # [1]: N
        n("TopK", [kr, t + "n"], [t + "ks", t + "order"], largest=0, sorted=1),          # kr sorted, and where from
        # a run of one row starts where the sorted kr changes
        n("Slice", [t + "ks", t + "zero", t + "last"], [t + "ks_head"]),
        n("Concat", [t + "none", t + "ks_head"], [t + "ks_prev"], axis=0),
        n("Equal", [t + "ks", t + "ks_prev"], [t + "same"]),
        n("Not", [t + "same"], [t + "new"]),
        n("Cast", [t + "new"], [t + "new_i"], to=TensorProto.INT64),
        n("CumSum", [t + "new_i", t + "zero0"], [t + "run1"]),
        n("Sub", [t + "run1", t + "one"], [t + "run"]),                                   # each sorted tile's run
        n("NonZero", [t + "new"], [t + "starts2"]),
        n("Reshape", [t + "starts2", t + "none"], [t + "starts"]),                        # [runs]
        n("Slice", [t + "starts", t + "one", t + "end"], [t + "starts_next"]),
        n("Concat", [t + "starts_next", t + "n"], [t + "ends"], axis=0),
        n("Sub", [t + "ends", t + "starts"], [t + "len"]),
        n("Add", [t + "len", t + "block_m1"], [t + "len_up"]),
        n("Div", [t + "len_up", t + "block"], [t + "blocks"]),                            # blocks per run
        n("CumSum", [t + "blocks", t + "zero0"], [t + "blocks_end"]),
        n("Sub", [t + "blocks_end", t + "blocks"], [t + "blocks_base"]),
        # each sorted tile's slot: its run's first block, plus its place in the run
        n("Squeeze", [t + "n"], [t + "n0"]),
        n("Range", [t + "zero0", t + "n0", t + "one0"], [t + "i"]),
        n("GatherElements", [t + "starts", t + "run"], [t + "my_start"], axis=0),
        n("Sub", [t + "i", t + "my_start"], [t + "place"]),
        n("Div", [t + "place", t + "block"], [t + "place_blk"]),
        n("GatherElements", [t + "blocks_base", t + "run"], [t + "my_base"], axis=0),
        n("Add", [t + "my_base", t + "place_blk"], [t + "blk"]),
        n("Mod", [t + "place", t + "block"], [t + "in_blk"]),
        n("Mul", [t + "blk", t + "block"], [t + "blk_at"]),
        n("Add", [t + "blk_at", t + "in_blk"], [t + "slot"]),                            # sorted tile -> slot
        # each slot's tile (N: the zero row), each tile's slot
        n("ReduceSum", [t + "blocks"], [t + "nblocks"], keepdims=1),                   # [1], 0 for no tiles
        n("Mul", [t + "nblocks", t + "block"], [t + "nslots"]),
        n("ConstantOfShape", [t + "nslots"], [t + "slots0"], value=zeros),
        n("Add", [t + "slots0", t + "n"], [t + "slots_n"]),
        n("ScatterElements", [t + "slots_n", t + "slot", t + "order"], [t + "slot_tile"], axis=0),
        n("ConstantOfShape", [t + "n"], [t + "tiles0"], value=zeros),
        n("ScatterElements", [t + "tiles0", t + "order", t + "slot"], [t + "tile_slot"], axis=0),
        # the blocks' features and rows, one MatMul, each tile's scores
        n("Flatten", [f], [t + "f2"], axis=1),                                            # [N, F]
        n("Concat", [t + "f2", t + "zero_row"], [t + "f_pad"], axis=0),
        n("Gather", [t + "f_pad", t + "slot_tile"], [t + "fs"], axis=0),                 # [slots, F]
        n("Reshape", [t + "fs", t + "shape_bf"], [t + "fb"]),                             # [blocks, block, F]
        n("Reshape", [t + "slot_tile", t + "shape_b"], [t + "slot_tile2"]),
        n("Gather", [t + "slot_tile2", t + "first_col"], [t + "first2"], axis=1),        # a block's first tile
        n("Reshape", [t + "first2", t + "none"], [t + "first"]),
        n("GatherElements", [kr, t + "first"], [t + "blk_row"], axis=0),
        n("Gather", [table, t + "blk_row"], [t + "wb"], axis=0),                          # [blocks, F, M]
        n("MatMul", [t + "fb", t + "wb"], [t + "sb"]),                                     # [blocks, block, M]
        n("Reshape", [t + "sb", t + "shape_m"], [t + "ss"]),                              # [slots, 1, M]
        n("Gather", [t + "ss", t + "tile_slot"], [out], axis=0),
    ]
    return nodes, consts


def _stage_blocked(top, g, result, t, block):
    """The parts of branch g whose outputs a Concat joins into `result` (each part: its tiles' table rows
    gathered by kr and a MatMul, perhaps more) run once on the whole batch, their Gather and MatMul as
    _blocked_stage (constants named with `t`); the splits, the parts and what only they read are removed."""
    old = list(g.node)
    made = {o: x for x in old for o in x.output}
    join = made[result]
    assert join.op_type == "Concat" and len(join.input) > 1, join
    split_of = {o: x.input[0] for x in old if x.op_type == "Split" for o in x.output}
    split = set(split_of)              # what the splits make and what reads it: the parts' own values
    for x in old:
        if split.intersection(x.input):
            split.update(x.output)

    def stage_of(name, acc):
        if name in split_of or name not in split or id(made[name]) in acc:
            return
        acc[id(made[name])] = made[name]
        for v in made[name].input:
            stage_of(v, acc)

    parts = {}
    for p in join.input:
        stage_of(p, parts)
    first = {}
    stage_of(join.input[0], first)
    # the first part's nodes, reading the whole batch and named for it
    suffix = join.input[0][len(result):]
    assert suffix in ("_p0", "_c0"), join.input[0]
    whole = [_renamed(x, lambda v: split_of.get(v, v[:-len(suffix)] if v.endswith(suffix) else v))
             for x in old if id(x) in first]
    by_out = {o: x for x in whole for o in x.output}
    mm = [x for x in whole if x.op_type == "MatMul" and by_out.get(x.input[1], x).op_type == "Gather"]
    assert len(mm) == 1, [x.op_type for x in whole]
    gw = by_out[mm[0].input[1]]
    F = next(d for d in top.initializer if d.name == "memb_w20_0").dims[1]
    nodes, consts = _blocked_stage(t, mm[0].input[0], gw.input[1], gw.input[0], mm[0].output[0], block, F)
    top.initializer.extend(consts)
    at = whole.index(gw)
    whole = whole[:at] + nodes + [x for x in whole[at:] if x is not gw and x is not mm[0]]
    gone = set(parts) | {id(join)}
    while True:
        read = {v for x in old + whole if id(x) not in gone for v in x.input} | {o.name for o in g.output}
        unread = {id(x) for x in old if id(x) not in gone and not read.intersection(x.output)}
        if not unread:
            break
        gone |= unread
    at = next(i for i, x in enumerate(old) if id(x) in gone)
    kept = [x for x in old if id(x) not in gone]
    before = sum(1 for x in old[:at] if id(x) not in gone)
    del g.node[:]
    g.node.extend(kept[:before] + whole + kept[before:])


def stage2_blocked(model, block=STAGE2_BLOCK):
    """Stage 2 of both branches of the If without a gather of member weights per tile: where each part of the
    batch gathered its tiles' table rows ([20, M] floats: 7.7 KB a tile above tolerance 0, 15 KB in the exact
    search at tolerance 0) for one [n,1,20] x [n,20,M] MatMul, the tiles are sorted by their row (kr) and scored
    in blocks of `block` tiles of one row (_blocked_stage): a frame's few hundred rows are gathered once a block.
    The same dot products, summed by ONNX Runtime's GEMM kernel instead of its one-row kernel, so a score can
    differ in its last bit (models/EVAL.md, "Stage 2 in blocks of one prototype")."""
    top = model.graph
    iff = next(x for x in top.node if x.op_type == "If" and x.output[0] == "index")
    branches = {a.name: a.g for a in iff.attribute}
    _stage_blocked(top, branches["then_branch"], "s2w3", "s2b_", block)
    _stage_blocked(top, branches["else_branch"], "x_s3", "xb_", block)
    _drop_unused(top)
    onnx.checker.check_model(model)
    return model


def stage1_matmul(model, parts=STAGE1_MATMUL[0], least=STAGE1_MATMUL[1]):
    """Stage 1's parts rewritten: each part's prototype scores from one MatMul of its features beside a column of
    ones against the prototypes' weights beside their biases (a [F+1, K] Concat per run: the biases follow the
    mask), where each part ran a MatMul and a bias Add, which ONNX Runtime fuses into a Gemm that one thread runs
    alone below about 2304 tiles; its MatMul runs on both. The batch runs in `parts` parts of max(N / parts,
    `least`) tiles (_part_sizes: a frame of up to `least` tiles in one part, the others empty; up to parts x
    `least` in parts of `least` and the rest) instead of N / parts each, so a small frame's scores are one MatMul
    and a large frame's still fit in cache for the first max. The same dot products with the bias added last, the
    same choices (models/EVAL.md, "Stage 1 as one MatMul")."""
    top = model.graph
    old = list(top.node)
    made = {o: x for x in old for o in x.output}
    stage, (split,), joins, gone = _chunked_parts(old, "s1_")
    assert [x.output[0] for x in joins] == ["k2"], joins
    X = split.input[0]
    mm = next(i for i, x in enumerate(stage) if x.op_type == "MatMul" and x.input[0] == X)
    add = stage[mm + 1]
    assert add.op_type == "Add" and add.input[0] == stage[mm].output[0], add
    weights, bias = stage[mm].input[1], add.input[1]
    t = "s1m_"
    top.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), t + "zero"),
                            numpy_helper.from_array(np.array([1], np.int64), t + "one")])
    stage[mm:mm + 2] = [helper.make_node("MatMul", [X, t + "w"], [add.output[0]])]
    # the features' Concat (read by the split and its sizes alone) takes the column of ones as its last input
    cat = made[X]
    readers = [x for x, out in zip(old, gone) if X in x.input and not out]
    assert cat.op_type == "Concat" and cat.attribute[0].i == 1 and not readers, cat
    cat.input.append(t + "ones")
    ones = [helper.make_node("Shape", [cat.input[0]], [t + "n"], start=0, end=1),
            helper.make_node("Concat", [t + "n", t + "one"], [t + "n1"], axis=0),
            helper.make_node("ConstantOfShape", [t + "n1"], [t + "ones"],
                             value=numpy_helper.from_array(np.array([1.0], np.float32))),        # [N,1]
            helper.make_node("Unsqueeze", [bias, t + "zero"], [t + "b"]),
            helper.make_node("Concat", [weights, t + "b"], [t + "w"], axis=0)]                 # [F+1,K]
    at = old.index(cat)
    assert not any(gone[:at + 1])
    nodes = (old[:at] + ones + [cat] + _in_parts(top, "s1p_", stage, [X], ["k2"], t + "zero", parts, parts, least, "Max")
             + [x for x, out in zip(old[at + 1:], gone[at + 1:]) if not out])
    del top.node[:]
    top.node.extend(nodes)
    _drop_unused(top)
    onnx.checker.check_model(model)
    return model


def selected_table_biases(model):
    """Each run joins the mask to the biases of the one member table its tolerance reads, not both: the table's
    slot indices and biases ([2, rows * M] int32 and [2, rows, M] constants) are picked by `which` (0 at tolerance
    0, 1 above), one GatherElements reads the mask at the picked slots, and stage 2 gathers the picked biases with
    the prototype `k` (the row within the table) instead of both tables' with `kr`; the exact search reads the
    picked ones too (at tolerance 0 they are the exact table's). Per run one [rows * M] GatherElements, a
    [rows, M] Add and ReduceMax and a [2 rows, M] Concat fewer (about 0.1 ms; a live frame's few changed tiles
    gain most). The same choices (models/EVAL.md, "The exact search in one table")."""
    top = model.graph
    nodes = list(top.node)
    by_out = {x.output[0]: x for x in nodes}
    consts = {t.name: numpy_helper.to_array(t) for t in top.initializer}
    reshape = [by_out[f"slot_mask_{i}"] for i in (0, 1)]
    gather = [by_out[x.input[0]] for x in reshape]
    assert all(x.op_type == "GatherElements" and x.input[0] == "mask_pad" for x in gather)
    shape = consts[reshape[0].input[1]]
    assert (shape == consts[reshape[1].input[1]]).all() and by_out["proto_mask"].op_type == "Where"
    t = "sel_"
    top.initializer.extend([
        numpy_helper.from_array(np.stack([consts[x.input[1]] for x in gather]).astype(np.int32), t + "slots"),
        numpy_helper.from_array(np.stack([consts["memb_b_0"], consts["memb_b_1"]]).astype(np.float32), t + "b"),
        numpy_helper.from_array(np.array([-1], np.int64), t + "flat"),
        numpy_helper.from_array(np.array(shape, np.int64), t + "shape"),
        numpy_helper.from_array(np.array([shape[0], 1, shape[1]], np.int64), t + "shape3")])
    reduce_max = by_out["proto_mask_0"]
    picked = [
        helper.make_node("Gather", [t + "slots", "which"], [t + "slots1"], axis=0),           # [1, rows * M]
        helper.make_node("Reshape", [t + "slots1", t + "flat"], [t + "slots_flat"]),
        helper.make_node("GatherElements", ["mask_pad", t + "slots_flat"], [t + "slot_flat"], axis=0),
        helper.make_node("Reshape", [t + "slot_flat", t + "shape"], [t + "slot_mask"]),      # [rows, M]
        helper.make_node("ReduceMax", [t + "slot_mask"], ["proto_mask"]),
        helper.make_node("Gather", [t + "b", "which"], [t + "b1"], axis=0),                  # [1, rows, M]
        helper.make_node("Add", [t + "b1", t + "slot_mask"], [t + "bm1"]),
        helper.make_node("Reshape", [t + "bm1", t + "shape"], [t + "bm"]),                    # [rows, M]
        helper.make_node("Reshape", [t + "bm1", t + "shape3"], [t + "b3"])]                   # [rows, 1, M]
    picked[4].attribute.extend(reduce_max.attribute)
    gone = {x.output[0] for x in gather + reshape} | {
        "proto_mask_0", "proto_mask_1", "memb_bm_0", "memb_bm_1", "memb_bm_cat", "memb_b3", "proto_mask"}
    at = next(i for i, x in enumerate(nodes) if x.output[0] in gone)
    assert next(i for i, x in enumerate(nodes) if x.output[0] == "which") < at
    nodes = nodes[:at] + picked + [x for x in nodes[at:] if x.output[0] not in gone]
    del top.node[:]
    top.node.extend(nodes)
    iff = next(x for x in top.node if x.op_type == "If" and x.output[0] == "index")
    changed = 0
    for a in iff.attribute:
        for x in a.g.node:
            if x.op_type == "Gather" and list(x.input) == ["memb_b3", "kr"]:
                x.input[0], x.input[1] = t + "b3", "k"
                changed += 1
            elif x.op_type == "Concat" and x.input[0] == "memb_bm_0":
                x.input[0] = t + "bm"
                changed += 1
    assert changed == 2, changed
    _drop_unused(top)
    onnx.checker.check_model(model)
    return model


def elementwise_gathers(model):
    """The model with each Gather of single elements (axis 0 of a 1-D tensor: the mask's slots, the flat frame's
    table, the members' emoji) as a GatherElements, which gives the same tensor: ONNX Runtime's Gather copies
    one element per call, its GatherElements loops over them (the run's [640, 96] mask slots 0.48 against
    0.04 ms at 1 thread; models/EVAL.md, "Speed: element gathers"). Constant indices of more than one dimension
    are flattened at export and the result reshaped to their shape; computed ones are left as they are."""
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {}

    def read_ranks(g):
        for v in list(g.input) + list(g.value_info) + list(g.output):
            if v.type.tensor_type.HasField("shape"):
                ranks[v.name] = len(v.type.tensor_type.shape.dim)
        for t in g.initializer:
            ranks[t.name] = len(t.dims)
        for x in g.node:
            for a in x.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    read_ranks(a.g)

    read_ranks(inferred.graph)
    made = [0]

    def rewrite(g, consts):
        consts = {**consts, **{t.name: t for t in g.initializer}}
        nodes = []
        for x in g.node:
            for a in x.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    rewrite(a.g, consts)
            axis = next((a.i for a in x.attribute if a.name == "axis"), 0)
            data, idx = (list(x.input) + ["", ""])[:2]
            rank = ranks.get(idx, 0)
            if (x.op_type != "Gather" or axis != 0 or ranks.get(data) != 1 or rank == 0
                    or (rank > 1 and idx not in consts)):
                nodes.append(x)
                continue
            out, k = x.output[0], made[0]
            made[0] += 1
            if rank == 1:
                nodes.append(helper.make_node("GatherElements", [data, idx], [out], axis=0))
                continue
            flat, shape = f"ge{k}_idx", f"ge{k}_shape"
            arr = numpy_helper.to_array(consts[idx])
            g.initializer.extend([numpy_helper.from_array(arr.reshape(-1), flat),
                                  numpy_helper.from_array(np.array(arr.shape, np.int64), shape)])
            nodes += [helper.make_node("GatherElements", [data, flat], [f"ge{k}_out"], axis=0),
                      helper.make_node("Reshape", [f"ge{k}_out", shape], [out])]
        del g.node[:]
        g.node.extend(nodes)

    rewrite(model.graph, {})
    _drop_unused(model.graph)
    onnx.checker.check_model(model)
    return model


def _drop_unused(g):
    """Removes the initializers of graph g that no node of it or of its subgraphs reads."""
    read = set()

    def reads(h):
        for x in h.node:
            read.update(x.input)
            for a in x.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    reads(a.g)
        read.update(o.name for o in h.output)

    reads(g)
    keep = [t for t in g.initializer if t.name in read]
    del g.initializer[:]
    g.initializer.extend(keep)


def _nth_bisect(n, init, steps):
    """The flat frame's count floor without a TopK: the cap (ff_cap, [N]) is ff_capb where at least n members
    (ff_n4, [1]) lie within it of the best, else the smallest distance g within (ff_capb, tol_t0] on a geometric
    bisection of `steps - 1` halvings (in log space) that holds n: counts of the members within g (one [N,M]
    comparison each), so the cap is at most about (tol_t0 / ff_capb) ^ (1 / 2^(steps - 1)) times the n-th best
    member's distance, never below it; tol_t0 where even that holds fewer (the tolerance then stays as it is)."""
    init["nb_one"] = np.asarray([1.0], np.float32)

    def count(g, tag):
        return [n("Sub", ["best1", g], [f"nb_thr_{tag}"]),
                n("Unsqueeze", [f"nb_thr_{tag}", "axis1"], [f"nb_thr2_{tag}"]),             # [N,1]
                n("GreaterOrEqual", ["s2", f"nb_thr2_{tag}"], [f"nb_ge_{tag}"]),           # [N,M]
                n("Cast", [f"nb_ge_{tag}"], [f"nb_gef_{tag}"], to=TensorProto.FLOAT),
                n("ReduceSum", [f"nb_gef_{tag}", "axis1"], [f"nb_cnt_{tag}"], keepdims=0),  # [N]
                n("GreaterOrEqual", [f"nb_cnt_{tag}", "ff_n4"], [f"nb_ok_{tag}"])]
    nodes = [n("Max", ["ff_capb", "nb_one"], ["nb_lo_0"]),
             n("Max", ["tol_t0", "nb_lo_0"], ["nb_hi_0"])] + count("nb_lo_0", "0")
    lo, hi = "nb_lo_0", "nb_hi_0"
    for k in range(1, steps):
        nodes += [n("Mul", [lo, hi], [f"nb_lh_{k}"]),
                  n("Sqrt", [f"nb_lh_{k}"], [f"nb_mid_{k}"])] + count(f"nb_mid_{k}", str(k)) + [
                  n("Where", [f"nb_ok_{k}", f"nb_mid_{k}", hi], [f"nb_hi_{k}"]),
                  n("Where", [f"nb_ok_{k}", lo, f"nb_mid_{k}"], [f"nb_lo_{k}"])]
        lo, hi = f"nb_lo_{k}", f"nb_hi_{k}"
    nodes.append(n("Where", ["nb_ok_0", "ff_capb", hi], ["nb_cap"]))
    # only in a frame the cap applies to (frame_flat above LO: g > 0); else ff_capb, which g = 0 leaves unread
    out = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
    then_g = helper.make_graph(nodes, "nth_then", [], [out("nb_cap")])
    else_g = helper.make_graph([n("Identity", ["ff_capb"], ["nb_capb"])], "nth_else", [], [out("nb_capb")])
    return [n("Greater", ["frame_flat", "ff_lo"], ["nb_gate"]),
            n("If", ["nb_gate"], ["ff_cap"], then_branch=then_g, else_branch=else_g)]


def _exact_more(n, nodes, init, more, full_pad, chunks, groups=0):
    """At tolerance 0 each tile searches its prototype's exact list twice as long: `more` ([rows, M], the exact
    table's second halves; the first halves lie where stage 2 reads any list) is scored as the first half is,
    and the tile takes the best of both (models/EVAL.md, "Longer exact lists"). An If on the tolerance runs
    either that search (tolerance 0: the exact choice, no pick among near-best members) or the graph's own
    stage 2 and pick (everything after `kr` that only the pick reads), so above tolerance 0 the graph runs the
    same nodes as before and makes the same choices. groups > 0: the best of the 2M found by _first_max over
    groups of that many (the same index as the ArgMax)."""
    rows, M = more.shape
    memb_w = full_pad[more].transpose(0, 2, 1)                                      # [rows,21,M]
    first = init["members_0"]
    assert first.shape == more.shape
    init["members_x"] = np.asarray(more, np.int64)
    init["members_both"] = np.concatenate([first, more], 1).reshape(-1).astype(np.int64)   # [rows * 2M]
    init["memb_w20_x"] = np.asarray(memb_w[:, :20], np.float32)
    init["memb_b_x"] = np.asarray(memb_w[:, 20], np.float32)
    init["x_width"] = np.asarray([2 * M], np.int64)
    init["x_shape"] = np.asarray([-1, 2 * M], np.int64)
    stage = [n("Gather", ["memb_w20_0", "x_kr"], ["x_gw0"], axis=0),               # [n,20,M]: the first halves
             n("MatMul", ["x_f3", "x_gw0"], ["x_sw0"]),                             # [n,1,M]
             n("Gather", ["memb_b3", "x_kr"], ["x_gb0"], axis=0),
             n("Add", ["x_sw0", "x_gb0"], ["x_s0"]),
             n("Gather", ["memb_w20_x", "x_kr"], ["x_gw1"], axis=0),               # the second halves
             n("MatMul", ["x_f3", "x_gw1"], ["x_sw1"]),
             n("Gather", ["x_b3", "x_kr"], ["x_gb1"], axis=0),
             n("Add", ["x_sw1", "x_gb1"], ["x_s1"]),
             n("Concat", ["x_s0", "x_s1"], ["x_s3"], axis=2)]                       # [n,1,2M]
    more_nodes = [
        # the mask joins the second halves' biases as it joins the first halves' (per run)
        n("Gather", ["mask_pad", "members_x"], ["x_slot_mask"], axis=0),           # [rows,M]
        n("Add", ["memb_b_x", "x_slot_mask"], ["x_bm"]),
        n("Unsqueeze", ["x_bm", "axis1"], ["x_b3"]),                                # [rows,1,M]
        n("Identity", ["kr"], ["x_kr"]),
        n("Identity", ["f3"], ["x_f3"]),
    ] + (_chunked(n, stage, ["x_kr", "x_f3"], chunks, init, "x_s3", tag="x_") if chunks > 1 else stage) + [
        n("Reshape", ["x_s3", "x_shape"], ["x_s"]),                                 # [N,2M]
    ] + ([n("ArgMax", ["x_s"], ["x_j"], axis=1, keepdims=0)] if not groups else
         _first_max(n, init, "x_s", "x_j1", 2 * M, groups, tag="x_fm_") + [n("Reshape", ["x_j1", "minus1"], ["x_j"])]) + [
        n("Mul", ["kr", "x_width"], ["x_km"]),
        n("Add", ["x_km", "x_j"], ["x_slot"]),
        n("Gather", ["members_both", "x_slot"], ["index_more"], axis=0),
    ]
    # the main graph keeps what the search reads (and everything up to kr); the rest only the own pick reads
    needed, by_out = set(), {o: x for x in nodes for o in x.output}
    todo = [i for x in more_nodes for i in x.input if i in by_out]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += [i for i in by_out[name].input if i in by_out]
    kr_at = next(i for i, x in enumerate(nodes) if x.output[0] == "kr")
    keep = nodes[:kr_at + 1] + [x for x in nodes[kr_at + 1:] if any(o in needed for o in x.output)]
    own = [x for x in nodes[kr_at + 1:] if not any(o in needed for o in x.output)]
    assert own[-1].output[0] == "index"
    own[-1].output[0] = "index_own"
    out = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["N"])
    varied = helper.make_graph(own, "own", [], [out("index_own")])
    exact = helper.make_graph(more_nodes, "more", [], [out("index_more")])
    return keep + [n("If", ["varied_b"], ["index"], then_branch=varied, else_branch=exact)]


def _first_max(n, init, scores, out, width, group, tag="fm_", flat=False):
    """Nodes giving `out` ([n,1] int64; flat: [n], whose integer Mul ONNX Runtime runs about 8x faster than the
    [n,1] one's broadcast): the index of each row's largest of `scores` ([n,width]), the first of
    equal ones, as TopK(1)'s index is, in two steps: the largest of each group of `group` columns (a ReduceMax),
    the first group holding the row's largest (an ArgMax over width / group), then the first largest inside that
    group (a Gather of its `group` scores, an ArgMax). The same index as a TopK or an ArgMax over the row, in
    about a third of their time on [9216, 320] (ONNX Runtime's ArgMax and TopK compare one element at a time;
    its ReduceMax is vectorised; models/EVAL.md, "Speed: element gathers, stage 1's largest in two steps").
    `tag` prefixes its names."""
    assert width % group == 0, (width, group)
    nb = width // group
    init[tag + "shape3"] = np.array([-1, nb, group], np.int64)
    init[tag + "shape_g"] = np.array([-1, group], np.int64)
    init[tag + "zero"] = np.array(0, np.int64)
    init[tag + "nb"] = np.array(nb, np.int64)
    init[tag + "group"] = np.array([group], np.int64)
    init[tag + "minus1"] = np.array([-1], np.int64)
    return [
        n("Reshape", [scores, tag + "shape3"], [tag + "s3"]),                         # [n,nb,group]
        n("ReduceMax", [tag + "s3"], [tag + "top"], axes=[2], keepdims=0),            # [n,nb]: each group's largest
        n("ArgMax", [tag + "top"], [tag + "b"], axis=1, keepdims=0 if flat else 1),   # [n,1]: the first group with it
        n("Shape", [tag + "top"], [tag + "shape"]),
        n("Gather", [tag + "shape", tag + "zero"], [tag + "n"], axis=0),              # n (a scalar)
        n("Mul", [tag + "n", tag + "nb"], [tag + "end"]),
        n("Range", [tag + "zero", tag + "end", tag + "nb"], [tag + "first"]),         # [n]: row * nb
    ] + ([] if flat else [n("Reshape", [tag + "b", tag + "minus1"], [tag + "b1"])]) + [
        n("Add", [tag + "first", tag + "b" if flat else tag + "b1"], [tag + "row"]),
        n("Reshape", [scores, tag + "shape_g"], [tag + "groups"]),                    # [n * nb, group]
        n("Gather", [tag + "groups", tag + "row"], [tag + "in"], axis=0),             # [n,group]: that group's scores
        n("ArgMax", [tag + "in"], [tag + "j"], axis=1, keepdims=0 if flat else 1),    # [n,1]: the first largest there
        n("Mul", [tag + "b", tag + "group"], [tag + "b_first"]),
        n("Add", [tag + "b_first", tag + "j"], [out]),
    ]


def _route_zeroed(n, nodes):
    """Stage 1's input `phi_s1` = [phi_r, dr_bright_c] without the Where that makes phi_r (phi_black for the
    routed tiles, flat_b, else phi): a routed tile's background is multiplied by 0 (the others' by 1), its
    features d computed again by d's MatMul ([P, b] against 1 and -1: P itself over 0) and its db and bb
    multiplied by the same 0 or 1. The same numbers as phi_black ([P, 0]) and phi, up to the sign of zeros."""
    by = {x.output[0]: x for x in nodes}
    assert [*by["phi_r"].input] == ["flat_b", "phi_black", "phi"] and [*by["phi_black"].input] == ["P", "pad_black"]
    assert [*by["phi"].input] == ["d", "db", "background", "bb"] and [*by["xb"].input] == ["P", "background"]
    concat = by["phi_s1"]
    assert concat.input[0] == "phi_r" and len(concat.input) == 2
    out = []
    for x in nodes:
        if x.output[0] in ("phi_black", "phi_r"):
            continue
        if x is concat:
            out += [n("Not", ["flat_b"], ["rz_keep_b"]),
                    n("Cast", ["rz_keep_b"], ["rz_keep"], to=TensorProto.FLOAT),      # [N,1]: 0 routed, else 1
                    n("Mul", ["background", "rz_keep"], ["rz_bg"]),
                    n("Concat", ["P", "rz_bg"], ["rz_xb"], axis=1),
                    n("MatMul", ["rz_xb", by["d"].input[1]], ["rz_d"]),
                    n("Mul", ["db", "rz_keep"], ["rz_db"]),
                    n("Mul", ["bb", "rz_keep"], ["rz_bb"]),
                    n("Concat", ["rz_d", "rz_db", "rz_bg", "rz_bb", concat.input[1]], ["phi_s1"], axis=1)]
            continue
        out.append(x)
    return out


def _cheaper_kernels(n, nodes, init, M):
    """The same numbers from kernels ONNX Runtime runs faster (by its per-node profile at 2 threads; models/EVAL.md,
    "Speed: fewer and cheaper kernels"):
    - d (and the routed tiles' rz_d) as P - b4, b4 = b against `rep` (each b once per quadrant), instead of the
      Concat [P, b] against [1; -1]: both are P - b rounded once (the rest of the sum is zeros), without the
      Concat of narrow rows that ONNX Runtime copies a row at a time;
    - the routed tiles' background and db times 0 or 1 (rz_keep, [N,1]) as a product of equal shapes, the 0 or
      1 repeated across the row by a MatMul with ones, instead of the broadcast, which ONNX Runtime runs an
      element at a time (about 0.1 ms each on 9216 tiles, against 0.01);
    - the second best's penalty (0 or NEG where a member ties the best) by a DequantizeLinear of the comparison
      as bytes, (x - 0) * NEG, instead of a float Cast (slow from bool) and a Mul: the same 0 (-0) and NEG;
    - the dark ladder's count of members within its rung by a MatMulInteger of the comparison as bytes with
      ones ([M,1], exact integers) instead of a float Cast and ReduceSum over [N,1,M].
    Each rewrite applies where its nodes are there. M: the members per tile (s2's width)."""
    by = {o: x for x in nodes for o in x.output}
    drop, swap = set(), {}
    rep = init["rep"]
    if "xb" in by and [*by["d"].input] == ["xb", "d_w"] and "b4" in by:
        assert np.array_equal(init["d_w"], np.concatenate([np.eye(12), -rep], 0))
        assert [*by["b4"].input] == ["background", "rep"]
        drop |= {id(by["xb"]), id(by["b4"])}
        swap[id(by["d"])] = [by["b4"], n("Sub", ["P", "b4"], ["d"])]
    if "rz_xb" in by and [*by["rz_d"].input] == ["rz_xb", "d_w"]:
        drop.add(id(by["rz_xb"]))
        swap[id(by["rz_d"])] = [n("MatMul", ["rz_bg", "rep"], ["rz_b4"]), n("Sub", ["P", "rz_b4"], ["rz_d"])]
    for name, x, width in (("rz_bg", "background", 3), ("rz_db", "db", 4)):
        if name in by and [*by[name].input] == [x, "rz_keep"]:
            init[f"ones_1x{width}"] = np.ones((1, width), np.float32)
            swap[id(by[name])] = [n("MatMul", ["rz_keep", f"ones_1x{width}"], [f"rz_keep{width}"]),   # [N,width]
                                  n("Mul", [x, f"rz_keep{width}"], [name])]
    if "db_topf" in by and [*by["db_pen"].input] == ["db_topf", "db_neg"]:
        init["db_neg_0d"] = init["db_neg"].reshape(())
        init["u8_zero"] = np.array(0, np.uint8)
        drop.add(id(by["db_topf"]))
        swap[id(by["db_pen"])] = [n("Cast", ["db_top"], ["db_top_u8"], to=TensorProto.UINT8),
                                  n("DequantizeLinear", ["db_top_u8", "db_neg_0d", "u8_zero"], ["db_pen"])]
    if "lad_gef" in by and [*by["lad_cnt"].input] == ["lad_gef", "axes12"] and [*by["s2_3"].input] == ["s2", "axis1"]:
        assert [*by["lad_ge"].input] == ["s2_3", "lad_thr"] and [*by["lad_thr"].input] == ["lad_thr1", "shape_n11"]
        init["lad_ones"] = np.ones((M, 1), np.uint8)
        init["lad_shape_n1"] = np.array([-1, 1], np.int64)
        drop |= {id(by[o]) for o in ("s2_3", "lad_thr", "lad_ge", "lad_gef")}
        swap[id(by["lad_cnt"])] = [
            n("Reshape", ["lad_thr1", "lad_shape_n1"], ["lad_thr"]),                    # [N,1]
            n("GreaterOrEqual", ["s2", "lad_thr"], ["lad_ge"]),                         # [N,M]
            n("Cast", ["lad_ge"], ["lad_ge_u8"], to=TensorProto.UINT8),
            n("MatMulInteger", ["lad_ge_u8", "lad_ones"], ["lad_cnt_i"]),               # [N,1] int32
            n("Reshape", ["lad_cnt_i", "minus1"], ["lad_cnt_i1"]),
            n("Cast", ["lad_cnt_i1"], ["lad_cnt"], to=TensorProto.FLOAT)]               # [N]
    out = []
    for x in nodes:
        if id(x) in swap:
            out += swap[id(x)]
        elif id(x) not in drop:
            out.append(x)
    return out


def _stage1_in_parts(n, nodes, init, parts):
    """Stage 1's MatMul (s1a), bias Add (s1) and largest (TopK or _first_max, giving k2) run on `parts`
    consecutive parts of the batch; the parts' indices are joined. Only the indices are read after them."""
    at = next(i for i, x in enumerate(nodes) if x.output[0] == "s1a")
    to = next(i for i, x in enumerate(nodes) if "k2" in x.output) + 1
    stage = nodes[at:to]
    assert stage[1].output[0] == "s1"
    inside = {o for x in stage for o in x.output} - {"k2"}
    assert not any(o in x.input for x in nodes[to:] for o in inside), "stage 1's scores are not read after it"
    return nodes[:at] + _chunked(n, stage, [stage[0].input[0]], parts, init, "k2", tag="s1_") + nodes[to:]


def _renamed(node, name):
    """A copy of `node`, unnamed, each of its inputs and outputs x renamed name(x)."""
    c = onnx.NodeProto()
    c.CopyFrom(node)
    c.name = ""
    for j, x in enumerate(c.input):
        c.input[j] = name(x)
    for j, x in enumerate(c.output):
        c.output[j] = name(x)
    return c


def _chunked(n, stage, per_tile, chunks, init, result="index", tag=""):
    """The nodes `stage` (ending in `result`: a name, or a list of the names the later nodes read) run on
    `chunks` consecutive parts of the batch, one after the other, so each part's gathered weights are still
    in cache when its MatMul reads them; `per_tile` are the [N,...] tensors the stage reads (split),
    everything else it reads is shared. Each result is the parts' outputs concatenated. `tag` prefixes the
    names of the part sizes' nodes and constants, so that two stages can run in parts of their own."""
    def t_(name):
        return tag + name

    init[t_("chunks")] = np.array([chunks], np.int64)
    init[t_("chunks_m1")] = np.array([chunks - 1], np.int64)
    init[t_("zero_i")] = np.array([0], np.int64)
    out = [n("Shape", [per_tile[0]], [t_("n_shape")]),
           n("Gather", [t_("n_shape"), t_("zero_i")], [t_("n_all")], axis=0),
           n("Div", [t_("n_all"), t_("chunks")], [t_("n_part")]),
           n("Mul", [t_("n_part"), t_("chunks_m1")], [t_("n_front")]),
           n("Sub", [t_("n_all"), t_("n_front")], [t_("n_last")]),
           n("Concat", [t_("n_part")] * (chunks - 1) + [t_("n_last")], [t_("split_sizes")], axis=0)]
    for t in per_tile:
        out.append(n("Split", [t, t_("split_sizes")], [f"{t}_c{i}" for i in range(chunks)], axis=0))
    produced = {o for node in stage for o in node.output}
    for i in range(chunks):
        out += [_renamed(node, lambda x: f"{x}_c{i}" if x in produced or x in per_tile else x) for node in stage]
    for r in [result] if isinstance(result, str) else result:
        out.append(n("Concat", [f"{r}_c{i}" for i in range(chunks)], [r], axis=0))
    return out


# --- the tables graph: what depends only on the emoji set and the variety, run once per setting -----------------

# The inputs that change from one run to the next (the tiles and the frame's measures); what depends on none of
# them (the mask, the tolerance and the constants) is the tables graph's (split_tables).
PER_RUN_INPUTS = ("quads", "background", "position", "choice", "dark_budget", "frame_flat", "frame_black")
TABLES_KEY = "tables"
# a constant of more bytes than this that both graphs read is kept once, in the tables graph (split_tables)
SHARED_BYTES = 65536


def split_tables(model, name):
    """(frame, tables): `model` as two graphs. `tables` holds every node (of the top graph and of the If's
    branches) whose inputs depend on none of PER_RUN_INPUTS, only on the mask, the tolerance and constants: the
    emoji set's tables, its biases in the stage-1 weights and the tolerance's thresholds, each computed once per
    setting instead of on every run; its inputs are those of `model`'s inputs that it reads, its outputs the values
    the other nodes read. `frame` is the rest, those values as inputs of the same names; its metadata names
    `tables`' file (`name`, beside it). Feeding frame the outputs of tables gives exactly the index of `model`
    (the same nodes on the same values)."""
    import copy
    model = copy.deepcopy(model)
    g = model.graph
    graphs = [g] + list(_subgraphs(g))
    # what the tables graph takes: every node none of whose inputs depends on a per-run input (a node holding
    # a subgraph stays: its branches' own nodes are taken one by one)
    per_run, moved = set(PER_RUN_INPUTS), []           # moved: (graph holding it, node)
    for h, x in _nodes(g):
        if any(a.type == onnx.AttributeProto.GRAPH for a in x.attribute) or per_run.intersection(x.input):
            per_run.update(x.output)
        else:
            moved.append((h, x))
    moving = {id(x) for _, x in moved}
    staying = [x for _, x in _nodes(g) if id(x) not in moving]
    made = {o for _, x in moved for o in x.output}
    read = {v for x in staying for v in x.input if v in made} | {o.name for h in graphs for o in h.output
                                                                 if o.name in made}
    inits = [t for h in graphs for t in h.initializer]
    needed = {v for _, x in moved for v in x.input}
    # a large constant both graphs read is the tables graph's alone, passed on as one of its outputs
    left = {v for x in staying for v in x.input}
    renamed = {t.name: t.name + "_tables" for t in inits
               if t.name in needed and t.name in left and t.ByteSize() > SHARED_BYTES}
    moved += [(None, helper.make_node("Identity", [v], [w])) for v, w in sorted(renamed.items())]
    for x in staying:
        for i, v in enumerate(x.input):
            x.input[i] = renamed.get(v, v)
    boundary = sorted(read | set(renamed.values()))
    t_inputs = [copy.deepcopy(i) for i in g.input if i.name in needed]
    t_graph = helper.make_graph([copy.deepcopy(x) for _, x in moved], "emojinet_tables", t_inputs, [],
                                [copy.deepcopy(t) for t in inits if t.name in needed])
    tables = helper.make_model(t_graph, opset_imports=list(model.opset_import), producer_name="emojicam-training")
    tables.ir_version = model.ir_version
    inferred = onnx.shape_inference.infer_shapes(tables, strict_mode=True).graph
    typed = {v.name: v for v in list(inferred.value_info) + list(inferred.output)}
    tables.graph.output.extend([copy.deepcopy(typed[v]) for v in boundary])
    tables.metadata_props.append(onnx.StringStringEntryProto(
        key="doc", value=f"the tables graph of {name.replace('-tables', '')}: run once per mask and tolerance, its "
                         "outputs fed to that graph (graph.split_tables)"))
    for h, x in moved:
        if h is not None:
            h.node.remove(x)
    g.input.extend([copy.deepcopy(typed[v]) for v in boundary])
    for h in graphs:
        _drop_unused(h)
    model.metadata_props.append(onnx.StringStringEntryProto(key=TABLES_KEY, value=name))
    onnx.checker.check_model(model)
    onnx.checker.check_model(tables)
    return model, tables


# --- the tile features, computed by the caller ---------------------------------------------------------

# The values the graph computed from each tile's quads and background alone, through ~45 small operators (the
# features of both stages, the routing and darkness flags): exact integers in float32 (or flags), so the caller
# (src/classify/features.rs, tile_features below) computes them in one pass over the tiles, bit for bit the same,
# and the graph takes them as inputs (features_outside). FEATURES_ALIAS: a value computed twice in the graph
# (the If's branch tested darkness again, at the same level), read from the one input.
TILE_FEATURES = ("phi", "phi_s1", "flat_b0", "bg_min", "bg_sat", "dr_dark", "dd_1d", "ff_i", "ff_detail", "dcp_h")
FEATURES_ALIAS = {"db_dark": "dr_dark"}
FEATURES_KEY = "features"
# the rules' constants the caller's code holds (route_lim, sat_lim, dr_level, db_level in the graph): a model
# whose metadata says otherwise is refused by the product
FEATURES_CONTRACT = ("emojicam tile features 2: flat within 8, saturated from 40, dark up to 40, mean colour in 64 "
                     "steps, h(d) = d / (1 + sqrt(d) / 95)")
_FEATURE_CONSTANTS = {"route_lim": 8.0, "sat_lim": 40.0, "dr_level": 40.0, "db_level": 40.0,
                      "ff_step": np.float32(63 / 255), "ff_four": 4.0, "dcp_hinv": np.float32(1 / 95)}
# the constant tables of the mean colour's cell: the mean of the four quadrants per channel, the cell's strides
_FEATURE_TABLES = {"ff_mean_w": np.kron(np.ones((4, 1)), np.eye(3) / 4), "ff_stride": [[4096.0], [64.0], [1.0]]}
_FEATURE_SHAPES = {"phi": (TensorProto.FLOAT, ["N", 20]),
                   "phi_s1": (TensorProto.FLOAT, ["N", 22]), "flat_b0": (TensorProto.BOOL, ["N"]),
                   "bg_min": (TensorProto.FLOAT, ["N"]), "bg_sat": (TensorProto.FLOAT, ["N"]),
                   "dr_dark": (TensorProto.BOOL, ["N"]), "dd_1d": (TensorProto.FLOAT, ["N"]),
                   "ff_i": (TensorProto.INT64, ["N"]), "ff_detail": (TensorProto.FLOAT, ["N"]),
                   "dcp_h": (TensorProto.FLOAT, ["N"])}


def tile_features(quads, background):
    """TILE_FEATURES of tiles with quadrant means `quads` (uint8 [N, 12], quadrant-major RGB) over `background`
    (float32 [N, 3], whole levels), as the graph computed them from P, the means as float: d = P - b per quadrant and
    channel, db = d . b per quadrant, bb = b . b, phi = [d, db, b, bb]; a tile is flat when every |d| <= 8
    (flat_b0), routed (scored as if over black in stage 1) when also its background's largest minus smallest
    channel (bg_sat) is >= 40; dark when no mean is above 40 (dr_dark); phi_s1 = phi with b = 0 for a routed tile,
    then 1 - dark and 1; dd_1d = d . d; the tile's mean colour m (of its four quadrants, each channel) and its cell
    in the 64-step colour table (ff_i: each channel's round(m 63 / 255), half to even, as 4096 r + 64 g + b), its
    detail sum P^2 - 4 sum m^2 (ff_detail) and h(detail) = detail / (1 + sqrt(detail) / 95) (dcp_h). Every value
    but the last a whole number below 2^24 (or of quarters below 2^22): exact in float32 in any order; the
    last's operations in the graph's order, each rounded once, as the caller does them."""
    P = np.asarray(quads, np.uint8).reshape(-1, 12).astype(np.float32)
    b = np.asarray(background, np.float32).reshape(-1, 3)
    d = P - np.tile(b, 4)
    db = (d.reshape(-1, 4, 3) * b[:, None, :]).sum(2, dtype=np.float32)
    bb = (b * b).sum(1, keepdims=True, dtype=np.float32)
    phi = np.concatenate([d, db, b, bb], 1)
    flat = np.abs(d).max(1, initial=0) <= _FEATURE_CONSTANTS["route_lim"]
    bg_min, bg_max = b.min(1, initial=np.inf), b.max(1, initial=-np.inf)
    bg_sat = (bg_max - bg_min).astype(np.float32)
    keep = (~(flat & (bg_sat >= _FEATURE_CONSTANTS["sat_lim"]))).astype(np.float32)[:, None]
    dark = P.max(1, initial=0) <= _FEATURE_CONSTANTS["dr_level"]
    rz_b = b * keep
    phi_s1 = np.concatenate([P - np.tile(rz_b, 4), db * keep, rz_b, bb * keep, (~dark).astype(np.float32)[:, None],
                             np.ones_like(bb)], 1)
    m = (P.reshape(-1, 4, 3).sum(1, dtype=np.float32) * np.float32(0.25)).astype(np.float32)
    cell = np.round(m * _FEATURE_CONSTANTS["ff_step"]).astype(np.int64)
    detail = ((P * P).sum(1, dtype=np.float32) - (m * m).sum(1, dtype=np.float32) * np.float32(4)).astype(np.float32)
    h = detail / (np.sqrt(detail) * _FEATURE_CONSTANTS["dcp_hinv"] + np.float32(1))
    return {"phi": phi.astype(np.float32), "phi_s1": phi_s1.astype(np.float32), "flat_b0": flat,
            "bg_min": bg_min.astype(np.float32), "bg_sat": bg_sat, "dr_dark": dark,
            "dd_1d": (d * d).sum(1, dtype=np.float32), "ff_i": cell @ np.array([4096, 64, 1], np.int64),
            "ff_detail": detail, "dcp_h": h.astype(np.float32)}


def features_outside(model):
    """`model` (a frame graph) taking TILE_FEATURES as inputs instead of computing them from `quads` and
    `background`: their producers and whatever only they read are removed (from the top graph and the If's
    branches), FEATURES_ALIAS read from their inputs, the graph's [N, 1] ones made from P's shape; its metadata
    holds FEATURES_CONTRACT under FEATURES_KEY. With tile_features' values it gives exactly the index of `model`
    (the same operators on the same values after them)."""
    import copy
    model = copy.deepcopy(model)
    g = model.graph
    graphs = [g] + list(_subgraphs(g))
    consts = {t.name: numpy_helper.to_array(t) for h in graphs for t in h.initializer}
    for k, v in _FEATURE_CONSTANTS.items():
        assert k in consts and consts[k].reshape(-1)[0] == np.float32(v), (k, consts.get(k))
    for k, v in _FEATURE_TABLES.items():
        assert k in consts and np.array_equal(consts[k], np.asarray(v, np.float32)), (k, consts.get(k))
    made = {o: x for _, x in _nodes(g) for o in x.output}
    for alias, name in FEATURES_ALIAS.items():
        a, n = made[alias], made[name]
        pa, pn = made[a.input[0]], made[n.input[0]]
        assert (a.op_type, pa.op_type, list(pa.input)) == (n.op_type, pn.op_type, list(pn.input)), (a, n)
        assert np.array_equal(consts[a.input[1]], consts[n.input[1]]), (a, n)
    for _, x in _nodes(g):
        for i, v in enumerate(x.input):
            x.input[i] = FEATURES_ALIAS.get(v, v)
    # the graph's ones [N, 1] took their shape from bb: [N, 1] from phi's first dimension instead
    at, shape = next((i, x) for i, x in enumerate(g.node) if x.op_type == "Shape" and list(x.input) == ["bb"])
    g.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "ft_one"))
    g.node.remove(shape)
    g.node.insert(at, helper.make_node("Shape", ["phi"], ["ft_n"], start=0, end=1))
    g.node.insert(at + 1, helper.make_node("Concat", ["ft_n", "ft_one"], [shape.output[0]], axis=0))
    # the features' producers go, then every node nothing reads any more
    feats = set(TILE_FEATURES)
    for h in graphs:
        for x in [x for x in h.node if feats.intersection(x.output)]:
            h.node.remove(x)
    _drop_dead(g)
    read = {v for _, x in _nodes(g) for v in x.input}
    kept = [copy.deepcopy(i) for i in g.input if i.name in read]
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info(n, *_FEATURE_SHAPES[n]) for n in TILE_FEATURES] + kept)
    for h in graphs:
        _drop_unused(h)
    model.metadata_props.append(onnx.StringStringEntryProto(key=FEATURES_KEY, value=FEATURES_CONTRACT))
    onnx.checker.check_model(model)
    return model


def stage2_biases_in_blocks(frame, tables):
    """(frame, tables), a pair of split_tables (and features_outside), with stage 2's set biases inside its blocks'
    product: where each tile's scores were its block's `MatMul` of its 20 features by its row's member weights,
    then an `Add` of the row's biases gathered per tile (`[N, 96]`), the features take a column of ones and the
    weights of each row of the variety branch (the tables graph's new output `s2_w21`: the rows from `row_off`, the
    biases as a 21st row) are gathered by `k` (= kr - row_off) per block. The product sums the 20 terms in order
    and adds the bias last, as the `Add` did after it: the same scores (models/EVAL.md, "Stage 2's biases in its
    blocks")."""
    import copy
    frame, tables = copy.deepcopy(frame), copy.deepcopy(tables)
    g = frame.graph
    iff = next(x for x in g.node if x.op_type == "If" and x.output[0] == "index")
    th = next(a.g for a in iff.attribute if a.name == "then_branch")
    made = {o: x for x in th.node for o in x.output}
    top = {o: x for x in g.node for o in x.output}
    add, gb = made["s2a3"], made["g_b"]
    assert add.op_type == "Add" and list(add.input) == ["s2w3", "g_b"], add
    assert gb.op_type == "Gather" and list(gb.input) == ["sel_b3", "k"], gb
    assert top["kr"].op_type == "Add" and list(top["kr"].input) == ["k", "row_off"], top["kr"]
    row, wb, fpad, fb = made["s2b_blk_row"], made["s2b_wb"], made["s2b_f_pad"], made["s2b_fb"]
    assert row.op_type == "GatherElements" and row.input[0] == "kr", row
    assert list(wb.input) == ["memb_w20_0_tables", "s2b_blk_row"], wb
    assert list(fpad.input) == ["s2b_f2", "s2b_zero_row"], fpad
    inits = {t.name: numpy_helper.to_array(t) for h in [g, th] for t in h.initializer}
    _, block, F = (int(v) for v in inits[fb.input[1]])
    th.initializer.extend([numpy_helper.from_array(np.zeros((1, F + 1), np.float32), "s2b_zero_row21"),
                           numpy_helper.from_array(np.array([-1, block, F + 1], np.int64), "s2b_shape_bf21")])
    th.node.insert(list(th.node).index(fpad), helper.make_node("Concat", ["s2b_f2", "ones"], ["s2b_f21"], axis=1))
    fpad.input[:] = ["s2b_f21", "s2b_zero_row21"]
    fb.input[1] = "s2b_shape_bf21"
    row.input[0] = "k"
    wb.input[0] = "s2_w21"
    th.node.remove(add)
    th.node.remove(gb)
    for _, x in _nodes(g):
        for i, v in enumerate(x.input):
            if v == "s2a3":
                x.input[i] = "s2w3"
    # the tables graph: the variety branch's rows of the member weights with their biases
    t = tables.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(tables).graph.output}
    rows, _, M = shapes["sel_b3"]
    t.initializer.append(numpy_helper.from_array(np.array([rows], np.int64), "s2w_rows"))
    t.node.extend([helper.make_node("Add", ["row_off", "s2w_rows"], ["s2w_end"]),
                   helper.make_node("Slice", ["memb_w20_0", "row_off", "s2w_end"], ["s2w_w"]),
                   helper.make_node("Concat", ["s2w_w", "sel_b3"], ["s2_w21"], axis=1)])
    t.output.append(helper.make_tensor_value_info("s2_w21", TensorProto.FLOAT, [rows, F + 1, M]))
    g.input.append(helper.make_tensor_value_info("s2_w21", TensorProto.FLOAT, [rows, F + 1, M]))
    # what the frame graph no longer reads goes from both
    read = {v for _, x in _nodes(g) for v in x.input}
    gone = [i.name for i in g.input if i.name not in read]
    for name in gone:
        g.input.remove(next(i for i in g.input if i.name == name))
        out = next((o for o in t.output if o.name == name), None)
        if out is not None:
            t.output.remove(out)
    _drop_dead(t)
    for h in [g, th, t]:
        _drop_unused(h)
    onnx.checker.check_model(frame)
    onnx.checker.check_model(tables)
    return frame, tables


def _drop_dead(g):
    """Removes the nodes of graph g and of its subgraphs whose outputs nothing reads (no node, no graph's
    output), until there are none."""
    graphs = [g] + list(_subgraphs(g))
    while True:
        read = {v for _, x in _nodes(g) for v in x.input} | {o.name for h in graphs for o in h.output}
        dead = [(h, x) for h in graphs for x in h.node if not read.intersection(x.output)]
        if not dead:
            return
        for h, x in dead:
            h.node.remove(x)


def _subgraphs(h):
    """Every subgraph of graph h, at any depth (an If's branches, theirs)."""
    for x in h.node:
        for a in x.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield a.g
                yield from _subgraphs(a.g)


def _nodes(h):
    """(graph, node) for every node of graph h and of its subgraphs, in order of execution: a node holding
    subgraphs after their nodes."""
    for x in h.node:
        for a in x.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(a.g)
        yield h, x


class _Input:
    """A name, shape and type, as an InferenceSession's get_inputs() gives them."""

    def __init__(self, name, shape, type):
        self.name, self.shape, self.type = name, shape, type


class Split:
    """A model split by split_tables, run like one InferenceSession of the whole graph: its inputs are the frame
    graph's without the tables' values, plus the tables graph's; run() runs the tables graph when the mask or the
    tolerance differs from the last run's, then the frame graph. A frame graph that takes the tile features
    (features_outside) is given tile_features of the `quads` and `background` fed, as the product computes them."""

    def __init__(self, frame, tables):
        self.frame, self.tables = frame, tables
        self.tables_in = [i.name for i in tables.get_inputs()]
        self.tables_out = [o.name for o in tables.get_outputs()]
        self.frame_in = {i.name for i in frame.get_inputs()}
        self.features = FEATURES_KEY in frame.get_modelmeta().custom_metadata_map
        self.key, self.values = None, None

    def get_inputs(self):
        tile = [_Input("quads", ["N", 12], "tensor(uint8)"), _Input("background", ["N", 3], "tensor(float)")]
        hidden = set(self.tables_out) | (set(TILE_FEATURES) if self.features else set())
        return [i for i in self.frame.get_inputs() if i.name not in hidden] + [
            i for i in self.tables.get_inputs() if i.name not in self.frame_in] + (tile if self.features else [])

    def get_outputs(self):
        return self.frame.get_outputs()

    def get_modelmeta(self):
        return self.frame.get_modelmeta()

    def run(self, output_names, feeds, run_options=None):
        key = tuple(np.asarray(feeds[n]).tobytes() for n in self.tables_in)
        if key != self.key:
            self.values = dict(zip(self.tables_out, self.tables.run(None, {n: feeds[n] for n in self.tables_in})))
            self.key = key
        given = {k: v for k, v in feeds.items() if k in self.frame_in}
        if self.features:
            given.update(tile_features(feeds["quads"], feeds["background"]))
        return self.frame.run(output_names, {**given, **self.values}, run_options)
