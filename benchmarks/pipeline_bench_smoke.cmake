# CTest pipeline_bench_smoke: a short pipeline_bench run (haar, int8 and fp32,
# 1 thread, 1 repeat) must exit 0 and write JSON whose rows found faces and
# timed them (checked with Python's json); skipped without the sample photos.
# Then --model: another model file is the one run and named; a missing one fails.
#   cmake -DBENCH=... -DPYTHON=... -DJSON=... -DASSETS=... -DMODELS=... -P pipeline_bench_smoke.cmake
if(NOT EXISTS ${ASSETS}/face-api/demo/sample1.jpg)
  message(STATUS "sample photos absent (run scripts/setup.sh): pipeline_bench smoke skipped")
  return()
endif()
file(REMOVE ${JSON})
execute_process(COMMAND ${BENCH} --detectors haar --precisions int8,fp32 --threads 1 --repeats 1 --json ${JSON}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pipeline_bench exited ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
message(STATUS "${out}")
execute_process(COMMAND ${PYTHON} -c [=[
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["rows"]
assert {r["recognition_precision"] for r in rows} == {"int8", "fp32"}, "rows must cover int8 and fp32 recognition"
for r in rows:
    assert r["faces"] > 0 and r["photos"] == 6, r
    assert r["photo_ms"] > 0 and r["photo_detect_ms"] > 0, r  # no timing comparisons: ctest runs in parallel
    assert r["frame_640x480_ms"] > 0, r
print(len(rows), "rows ok")
]=] ${JSON} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pipeline_bench JSON check failed (${JSON}):\n${out}${err}")
endif()
message(STATUS "${out}")

# --model FILE: that model is run and named in the JSON; a missing file is an error, not a table of failures.
file(REMOVE ${JSON})
set(other ${MODELS}/fer2013_small_cnn_kd.fermodel)
execute_process(COMMAND ${BENCH} --detectors haar --precisions fp32 --threads 1 --repeats 1 --model ${other} --json ${JSON}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "fer2013_small_cnn_kd.fermodel")
  message(FATAL_ERROR "pipeline_bench --model exited ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
execute_process(COMMAND ${PYTHON} -c [=[
import json, sys
d = json.load(open(sys.argv[1]))
assert d["model"] == sys.argv[2], d["model"]
assert d["rows"] and all(r["faces"] > 0 for r in d["rows"]), d["rows"]
]=] ${JSON} ${other} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pipeline_bench --model JSON check failed (${JSON}):\n${out}${err}")
endif()
execute_process(COMMAND ${BENCH} --detectors haar --model ${MODELS}/no_such.fermodel
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "no_such.fermodel")
  message(FATAL_ERROR "pipeline_bench with a missing model exited ${rc}: ${err}")
endif()
