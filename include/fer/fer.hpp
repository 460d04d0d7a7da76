/// @file fer.hpp
/// @brief libfer umbrella header: include this to use the whole C++ API.
#pragma once

#include <fer/async_stream.hpp>
#include <fer/config.hpp>
#include <fer/dataset.hpp>
#include <fer/detector.hpp>
#include <fer/error.hpp>
#include <fer/expression.hpp>
#include <fer/image.hpp>
#include <fer/landmarks.hpp>
#include <fer/model.hpp>
#include <fer/overlay.hpp>
#include <fer/pipeline.hpp>
#include <fer/recognizer.hpp>
#include <fer/registry.hpp>
#include <fer/render.hpp>
#include <fer/stream.hpp>
#include <fer/threads.hpp>
#include <fer/types.hpp>
#include <fer/version.hpp>
#include <fer/video.hpp>
