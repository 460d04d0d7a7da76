# Sources of src/track/ (one line per file).
target_sources(fer PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/kalman.cpp
  ${CMAKE_CURRENT_LIST_DIR}/association.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tracker.cpp
  ${CMAKE_CURRENT_LIST_DIR}/smoother.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stream.cpp
  ${CMAKE_CURRENT_LIST_DIR}/async_stream.cpp
  ${CMAKE_CURRENT_LIST_DIR}/video_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/overlay.cpp
)
