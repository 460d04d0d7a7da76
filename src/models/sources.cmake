# Sources of src/models/ (one line per file).
target_sources(fer PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/acnn.cpp
  ${CMAKE_CURRENT_LIST_DIR}/depthwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/flops.cpp
  ${CMAKE_CURRENT_LIST_DIR}/heads.cpp
  ${CMAKE_CURRENT_LIST_DIR}/int8.cpp
  ${CMAKE_CURRENT_LIST_DIR}/int8_kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mini_xception.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mobile_fer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/registry.cpp
  ${CMAKE_CURRENT_LIST_DIR}/resnet.cpp
  ${CMAKE_CURRENT_LIST_DIR}/small_cnn.cpp
  ${CMAKE_CURRENT_LIST_DIR}/torch_component.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vit_asf.cpp
  ${CMAKE_CURRENT_LIST_DIR}/zoo_common.cpp
)
