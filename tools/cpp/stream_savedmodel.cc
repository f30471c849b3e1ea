// Streams audio through an exported model's SavedModel with the TensorFlow C API, buffer by
// buffer, carrying every state tensor as an engine would, and prints each buffer's outputs.
//
//   tools/cpp/build.sh saved_models/pitch_detector        # -> build/cpp/stream_savedmodel
//   build/cpp/stream_savedmodel saved_models/pitch_detector/saved_model audio.f32 [buffers] [name=value ...]
//
// audio.f32: raw little-endian float32 mono samples at kSampleRate. Control inputs (neither the
// audio buffer nor state, e.g. a corrector's target_pitch and correction_strength) take the
// constant given as name=value. Output, one line per buffer and non-state output:
//   <buffer> <tensor name> <values...>
// Tensor names, shapes and state pairs come from the generated header (MODEL_HEADER).
#include MODEL_HEADER

#include <tensorflow/c/c_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace model = autotune_keras::MODEL_NAMESPACE;

namespace {

[[noreturn]] void Fail(const std::string& what, TF_Status* status = nullptr) {
  std::fprintf(stderr, "error: %s%s%s\n", what.c_str(), status ? ": " : "", status ? TF_Message(status) : "");
  std::exit(1);
}

// "op:index" -> TF_Output in the loaded graph.
TF_Output GraphTensor(TF_Graph* graph, const std::string& spec) {
  const auto colon = spec.rfind(':');
  const std::string op_name = spec.substr(0, colon);
  TF_Operation* op = TF_GraphOperationByName(graph, op_name.c_str());
  if (op == nullptr) Fail("no operation '" + op_name + "' in the SavedModel graph");
  return TF_Output{op, colon == std::string::npos ? 0 : std::atoi(spec.c_str() + colon + 1)};
}

int64_t Elements(const model::TensorInfo& info) {
  int64_t n = 1;
  for (int d = 1; d < info.rank; ++d) n *= info.shape[d];  // batch of one
  return n;
}

TF_Tensor* FloatTensor(const model::TensorInfo& info, const float* data) {
  std::vector<int64_t> dims(info.rank);
  dims[0] = 1;
  for (int d = 1; d < info.rank; ++d) dims[d] = info.shape[d];
  const size_t bytes = static_cast<size_t>(Elements(info)) * sizeof(float);
  TF_Tensor* tensor = TF_AllocateTensor(TF_FLOAT, dims.data(), info.rank, bytes);
  std::memcpy(TF_TensorData(tensor), data, bytes);
  return tensor;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SAVED_MODEL_DIR AUDIO.f32 [BUFFERS] [name=value ...]\n", argv[0]);
    return 2;
  }
  std::vector<std::pair<std::string, float>> controls;
  size_t max_buffers = static_cast<size_t>(-1);
  for (int a = 3; a < argc; ++a) {
    const std::string arg = argv[a];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) {
      max_buffers = static_cast<size_t>(std::atol(arg.c_str()));
    } else {
      controls.emplace_back(arg.substr(0, eq), std::strtof(arg.c_str() + eq + 1, nullptr));
    }
  }
  std::ifstream file(argv[2], std::ios::binary | std::ios::ate);
  if (!file) Fail(std::string(argv[2]) + ": cannot open");
  std::vector<float> audio(static_cast<size_t>(file.tellg()) / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(audio.data()), static_cast<std::streamsize>(audio.size() * sizeof(float)));
  const size_t buffers = std::min(audio.size() / model::kBufferSize, max_buffers);

  TF_Status* status = TF_NewStatus();
  TF_Graph* graph = TF_NewGraph();
  TF_SessionOptions* options = TF_NewSessionOptions();
  const char* tags[] = {"serve"};
  TF_Session* session = TF_LoadSessionFromSavedModel(options, nullptr, argv[1], tags, 1, graph, nullptr, status);
  if (TF_GetCode(status) != TF_OK) Fail(std::string(argv[1]) + ": cannot load SavedModel", status);

  // state inputs start at zero; their paired outputs replace them after every buffer
  std::vector<std::vector<float>> inputs;
  std::vector<TF_Output> input_ports;
  int audio_input = -1;
  for (size_t i = 0; i < model::kInputs.size(); ++i) {
    const auto& info = model::kInputs[i];
    if (info.dtype != model::DType::kFloat32) Fail(std::string(info.name) + ": only float32 inputs are supported");
    inputs.emplace_back(static_cast<size_t>(Elements(info)), 0.0f);
    input_ports.push_back(GraphTensor(graph, info.savedmodel_tensor));
    if (std::strlen(info.state_pair) > 0) continue;
    bool is_control = false;
    for (const auto& [name, value] : controls) {
      if (name == info.name) {
        std::fill(inputs.back().begin(), inputs.back().end(), value);
        is_control = true;
      }
    }
    if (is_control) continue;
    if (audio_input >= 0 || Elements(info) != model::kBufferSize) Fail(std::string(info.name) + ": give its value as " + info.name + "=VALUE");
    audio_input = static_cast<int>(i);
  }
  if (audio_input < 0) Fail("the header names no audio buffer input");
  std::vector<TF_Output> output_ports;
  for (const auto& info : model::kOutputs) output_ports.push_back(GraphTensor(graph, info.savedmodel_tensor));

  for (size_t b = 0; b < buffers; ++b) {
    std::memcpy(inputs[audio_input].data(), audio.data() + b * model::kBufferSize, model::kBufferSize * sizeof(float));
    std::vector<TF_Tensor*> input_values;
    for (size_t i = 0; i < model::kInputs.size(); ++i) input_values.push_back(FloatTensor(model::kInputs[i], inputs[i].data()));
    std::vector<TF_Tensor*> output_values(model::kOutputs.size(), nullptr);
    TF_SessionRun(session, nullptr, input_ports.data(), input_values.data(), static_cast<int>(input_values.size()),
                  output_ports.data(), output_values.data(), static_cast<int>(output_values.size()), nullptr, 0, nullptr,
                  status);
    if (TF_GetCode(status) != TF_OK) Fail("TF_SessionRun", status);
    for (size_t o = 0; o < model::kOutputs.size(); ++o) {
      const auto& info = model::kOutputs[o];
      const float* values = static_cast<const float*>(TF_TensorData(output_values[o]));
      const int64_t count = Elements(info);
      if (std::strlen(info.state_pair) > 0) {
        for (size_t i = 0; i < model::kInputs.size(); ++i) {
          if (std::strcmp(model::kInputs[i].name, info.state_pair) == 0) std::memcpy(inputs[i].data(), values, count * sizeof(float));
        }
      } else {
        std::printf("%zu %s", b, info.name);
        for (int64_t k = 0; k < count; ++k) std::printf(" %.9g", values[k]);
        std::printf("\n");
      }
      TF_DeleteTensor(output_values[o]);
    }
    for (TF_Tensor* tensor : input_values) TF_DeleteTensor(tensor);
  }

  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteSessionOptions(options);
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
  return 0;
}
