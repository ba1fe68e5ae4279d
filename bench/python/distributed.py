"""PyTorch counterpart of bench/distributed.ts: a torch.distributed gloo all_reduce loop.

Started by bench/distributed.ts as each of 2 ranks, with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
and GLOO_SOCKET_IFNAME set:

    python distributed.py '{"sizes": [bytes...], "repeats": R, "sampleBytes": B}' OUT_FILE

Times, per size, R samples of k back-to-back all_reduce calls (k = the same formula as the TypeScript
side's iterationsFor), each after a barrier, and rank 0 writes {"nsPerOp": {size: [ns per call]}}.
"""

import json
import os
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist


def iterations_for(nbytes: int, sample_bytes: int) -> int:
    return max(3, min(2000, sample_bytes // nbytes))


def main() -> None:
    spec = json.loads(sys.argv[1])
    out_file = sys.argv[2]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dist.init_process_group("gloo", init_method="env://", timeout=timedelta(seconds=120))
    ns_per_op = {}
    for nbytes in spec["sizes"]:
        t = torch.ones(nbytes // 4)
        iters = iterations_for(nbytes, spec["sampleBytes"])
        for _ in range(3):
            dist.all_reduce(t)
        samples = []
        for _ in range(spec["repeats"]):
            dist.barrier()
            t0 = time.perf_counter_ns()
            for _ in range(iters):
                dist.all_reduce(t)
            samples.append((time.perf_counter_ns() - t0) / iters)
        ns_per_op[nbytes] = samples
    if dist.get_rank() == 0:
        with open(out_file, "w") as f:
            json.dump({"nsPerOp": ns_per_op, "torch": torch.__version__}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
