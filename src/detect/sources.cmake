# Sources of src/detect/ (one line per file).
target_sources(fer PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/detector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/haar_detector.cpp
)
