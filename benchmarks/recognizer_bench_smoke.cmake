# CTest recognizer_bench_smoke: a --quick run of recognizer_bench must exit 0 and
# write JSON with at least one row of positive times (checked with Python's json).
#   cmake -DBENCH=... -DPYTHON=... -DJSON=... -P recognizer_bench_smoke.cmake
file(REMOVE ${JSON})
execute_process(COMMAND ${BENCH} --quick --archs small_cnn --models none --json ${JSON}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "recognizer_bench exited ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
message(STATUS "${out}")
execute_process(COMMAND ${PYTHON} -c [=[
import json, sys
d = json.load(open(sys.argv[1]))
rows = [r for r in d["rows"] if r["median_ms"] > 0 and r["ms_per_face"] > 0 and r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
        and r["flops_per_face"] > 0 and r["gflops"] > 0 and r["reps"] >= 10]
assert rows, "no row with positive times"
assert {r["precision"] for r in d["rows"]} == {"fp32", "bf16"}, "rows must cover fp32 and bf16"
assert all(p["gflops"] > 0 for p in d["peaks"]) and {p["precision"] for p in d["peaks"]} == {"fp32", "bf16"}, "positive fp32 and bf16 peaks expected"
assert all(r["efficiency"] is not None and r["efficiency"] > 0 for r in d["rows"]), "efficiency missing"
assert d["preprocessing"] and d["preprocessing"][0]["median_ms_per_face"] > 0, "no preprocessing time"
assert d["machine"]["libtorch"] and d["machine"]["logical_cpus"] > 0, "machine description missing"
print(len(d["rows"]), "rows ok")
]=] ${JSON} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "recognizer_bench JSON check failed (${JSON}):\n${out}${err}")
endif()
message(STATUS "${out}")
