"""The ONNX graph of emojinet: a cheap embedding of the 10x10 patch and a two-stage (cluster, then
members) nearest-class search with the argmax inside the graph. See models/README.md."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
NEG = -1e9


def pooling_matrix():
    """uint8 [300,12]: sums each 5x5 quadrant of a row-major RGB 10x10 patch (quadrant-major, then RGB)."""
    p = np.zeros((300, 12), np.uint8)
    for y in range(10):
        for x in range(10):
            q = (y // 5) * 2 + (x // 5)
            for c in range(3):
                p[(y * 10 + x) * 3 + c, q * 3 + c] = 1
    return p


def build(A, a, E, centroids, members, metadata, batched="matmul"):
    """A [12,D], a [D]: embedding f = (2x2 means in 0..255) @ A + a.
    E [C,D]: class embeddings; score(c) = -|f - E_c|^2.
    centroids [K,D]; members int [K,M] with C meaning an empty slot."""
    C, D = E.shape
    K, M = members.shape
    f32 = lambda x: np.asarray(x, np.float32)
    inits = [
        numpy_helper.from_array(np.array([-1, 300], np.int64), "shape_n300"),
        numpy_helper.from_array(pooling_matrix(), "pool"),
        numpy_helper.from_array(f32(A / 25.0), "embed_w"),
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
        n("Reshape", ["patches", "shape_n300"], ["x"]),
        n("MatMulInteger", ["x", "pool"], ["qsum"]),
        n("Cast", ["qsum"], ["qsum_f"], to=TensorProto.FLOAT),
        n("MatMul", ["qsum_f", "embed_w"], ["f0"]),
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
    g = helper.make_graph(
        nodes, "emojinet",
        [helper.make_tensor_value_info("patches", TensorProto.UINT8, ["N", 10, 10, 3]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, [C])],
        [helper.make_tensor_value_info("index", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="emojicam-training")
    m.ir_version = 8
    for k, v in metadata.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    onnx.checker.check_model(m)
    return m


def session(path_or_bytes, threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])
