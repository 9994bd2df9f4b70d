#!/usr/bin/python3
"""The table of bench/nn_bench.sh from its result lines (one file): per net,
training and inference images/s of cassnn's and of each PyTorch's best run
(over configurations and rounds), each as a fraction of the measured FMA
peak, the ratio of cassnn to the best PyTorch, training images per
CPU-second, and peak RSS. Prints Markdown."""
import re
import sys


def parse(path):
    peak, core_peak, runs = 0.0, 0.0, []
    for line in open(path):
        fields = dict(re.findall(r"(\w+)=(\[[^\]]*\]|\S+)", line))
        if line.startswith("peak "):
            peak = max(peak, float(fields["gflops"]))
            core_peak = max(core_peak, float(fields["gflops"]) / int(fields["threads"]))
        elif line.split(" ", 1)[0] in ("cassnn", "torch1", "torch2"):
            fields["program"] = line.split(" ", 1)[0]
            runs.append(fields)
    return peak, core_peak, runs


def best(runs, program, net, key):
    cands = [r for r in runs if r["program"] == program and r["net"] == net]
    return max(cands, key=lambda r: float(r[key]), default=None)


def main():
    peak, core_peak, runs = parse(sys.argv[1])
    mflop = {}
    for r in runs:
        if r["program"] == "cassnn":
            mflop[r["net"]] = (float(r["train_mflop_img"]), float(r["infer_mflop_img"]))
    print("FMA peak: %.1f GFLOP/s (%.1f per core)" % (peak, core_peak))
    for net in ("tutorial", "modern"):
        if net not in mflop:
            continue
        programs = [("cassnn", "cassnn")]
        for prog, label in (("torch1", "PyTorch %s"), ("torch2", "PyTorch %s")):
            r = best(runs, prog, net, "train_img_s")
            if r:
                programs.append((prog, label % r.get("version", "?")))
        print()
        print("%s net (%.2f MFLOP per training image, %.2f per inference image)"
              % (net, mflop[net][0], mflop[net][1]))
        print()
        print("| | " + " | ".join(label for _, label in programs) + " | cassnn / best PyTorch |")
        print("|---" * (len(programs) + 2) + "|")
        for key, what, flops in (("train_img_s", "training, images/s (batch 64)", mflop[net][0]),
                                 ("infer_img_s", "inference, images/s (batch 1000)", mflop[net][1])):
            cells, torch_best = [], 0.0
            for prog, _ in programs:
                r = best(runs, prog, net, key)
                v = float(r[key])
                if prog != "cassnn":
                    torch_best = max(torch_best, v)
                cells.append("%s (%.0f%% of peak)" % (format(int(v), ","), 100 * v * flops / 1e3 / peak))
            c = float(best(runs, "cassnn", net, key)[key])
            ratio = "**%.2fx**" % (c / torch_best) if torch_best else "-"
            print("| %s | %s | %s |" % (what, " | ".join(cells), ratio))
        # images per CPU-second: steadier than wall time on a busy machine
        cells, torch_best = [], 0.0
        for prog, _ in programs:
            v = float(best(runs, prog, net, "train_img_per_cpu_s")["train_img_per_cpu_s"])
            if prog != "cassnn":
                torch_best = max(torch_best, v)
            cells.append("%s (%.0f%% of a core's peak)" % (format(int(v), ","),
                                                          100 * v * mflop[net][0] / 1e3 / core_peak))
        c = float(best(runs, "cassnn", net, "train_img_per_cpu_s")["train_img_per_cpu_s"])
        print("| training, images per CPU-second | %s | %s |" % (
            " | ".join(cells), "%.2fx" % (c / torch_best) if torch_best else "-"))
        cells = []
        for prog, _ in programs:
            r = best(runs, prog, net, "train_img_s")
            cells.append("%.0f MB" % float(r["peak_rss_mb"]))
        print("| peak RSS (best training run) | %s | |" % " | ".join(cells))
        cfgs = []
        for prog, label in programs:
            cfgs.append("%s: training %s, inference %s" % (
                label, best(runs, prog, net, "train_img_s")["cfg"].strip("[]"),
                best(runs, prog, net, "infer_img_s")["cfg"].strip("[]")))
        if cfgs:
            print()
            print("best configurations: " + "; ".join(cfgs))


if __name__ == "__main__":
    main()
