# Sources of src/detect/ (one line per file).
target_sources(fer PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/detector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/face_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/face_landmarks.cpp
  ${CMAKE_CURRENT_LIST_DIR}/haar_detector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ssd_mobilenet_detector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tfjs_weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tiny_face_detector.cpp
)
