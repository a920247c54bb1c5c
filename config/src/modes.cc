// Mode files: YAML -> golden::ModeSpec. Every key is checked; an unknown key or value is an
// error naming the file and the key, so a typo never silently becomes mode 0.
#include "qmsim/config/modes.h"

#include <yaml-cpp/yaml.h>

#include "yaml_checks.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace qmsim {
namespace config {

const std::vector<std::pair<std::string, std::string>>& embedded_mode_files();  // generated

namespace {

using detail::check_keys;
using detail::fail;

using golden::ModeSpec;

std::string scalar(const YAML::Node& n, const std::string& file, const std::string& key) {
  if (!n.IsScalar()) fail(file, key, "expected a scalar value");
  return n.Scalar();
}

int integer(const YAML::Node& n, const std::string& file, const std::string& key) {
  const std::string s = scalar(n, file, key);
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 1000000) fail(file, key, "expected a non-negative integer, got '" + s + "'");
  return static_cast<int>(v);
}

std::vector<std::string> string_list(const YAML::Node& n, const std::string& file, const std::string& key) {
  std::vector<std::string> out;
  if (!n) return out;
  if (!n.IsSequence()) fail(file, key, "expected a list");
  for (size_t i = 0; i < n.size(); ++i) out.push_back(scalar(n[i], file, key + "[" + std::to_string(i) + "]"));
  return out;
}

template <class E>
E choice(const YAML::Node& n, const std::string& file, const std::string& key, const std::map<std::string, E>& values) {
  const std::string s = scalar(n, file, key);
  const auto it = values.find(s);
  if (it == values.end()) {
    std::string list;
    for (const auto& v : values) list += (list.empty() ? "" : ", ") + v.first;
    fail(file, key, "unknown value '" + s + "' (expected one of: " + list + ")");
  }
  return it->second;
}

const std::map<std::string, golden::Rounding> kRounding = {{"rne", golden::Rounding::kRne},
                                                           {"rna", golden::Rounding::kRna}};

// The site blocks (conv, u, linears, ssm) of a mode or a variant; absent blocks keep mode 0's op.
void parse_sites(const YAML::Node& node, const std::string& file, const std::string& prefix, ModeSpec& m) {
  const std::string p = prefix.empty() ? "" : prefix + ".";
  if (const YAML::Node c = node["conv"]) {
    check_keys(c, file, p + "conv", {"input_scale"});
    if (c["input_scale"])
      m.conv_dynamic_input_scale = choice<bool>(c["input_scale"], file, p + "conv.input_scale",
                                                {{"static", false}, {"dynamic_per_call", true}});
  }
  if (const YAML::Node u = node["u"]) {
    check_keys(u, file, p + "u",
               {"source", "quantizer", "rounding", "fine_threshold", "fine_divisor", "outlier_scale", "dtype"});
    if (u["source"])
      m.u_source = choice<ModeSpec::USource>(u["source"], file, p + "u.source",
                                             {{"q", ModeSpec::USource::kQ},
                                              {"grid", ModeSpec::USource::kGrid},
                                              {"v", ModeSpec::USource::kV}});
    if (u["quantizer"])
      m.u_quantizer = choice<golden::UQuantizer>(
          u["quantizer"], file, p + "u.quantizer",
          {{"none", golden::UQuantizer::kNone},
           {"grid", golden::UQuantizer::kGrid},
           {"grid_keep_outliers", golden::UQuantizer::kGridKeepOutliers},
           {"grid_requant_outliers", golden::UQuantizer::kGridRequantOutliers},
           {"two_level", golden::UQuantizer::kTwoLevel},
           {"log_outliers", golden::UQuantizer::kLogOutliers},
           {"three_segment", golden::UQuantizer::kThreeSegment}});
    if (u["rounding"]) m.u_rounding = choice(u["rounding"], file, p + "u.rounding", kRounding);
    if (u["fine_threshold"]) m.u_fine_threshold = integer(u["fine_threshold"], file, p + "u.fine_threshold");
    if (u["fine_divisor"]) m.u_fine_divisor = integer(u["fine_divisor"], file, p + "u.fine_divisor");
    if (u["outlier_scale"])
      m.u_outlier_scale = choice<golden::OutlierScale>(u["outlier_scale"], file, p + "u.outlier_scale",
                                                       {{"per_call_max", golden::OutlierScale::kPerCallMax},
                                                        {"alpha1", golden::OutlierScale::kAlpha1}});
    if (u["dtype"]) m.u_int8 = choice<bool>(u["dtype"], file, p + "u.dtype", {{"int8", true}, {"f32", false}});
  }
  if (const YAML::Node l = node["linears"]) {
    check_keys(l, file, p + "linears", {"input", "input_rounding", "arithmetic", "output"});
    if (l["input"])
      m.lin_input = choice<ModeSpec::LinearInput>(l["input"], file, p + "linears.input",
                                                  {{"conv_q", ModeSpec::LinearInput::kConvQ},
                                                   {"requant_u", ModeSpec::LinearInput::kRequantU},
                                                   {"requant_v", ModeSpec::LinearInput::kRequantV},
                                                   {"u", ModeSpec::LinearInput::kU}});
    if (l["input_rounding"]) m.lin_input_rounding = choice(l["input_rounding"], file, p + "linears.input_rounding", kRounding);
    if (l["arithmetic"])
      m.lin_f32 = choice<bool>(l["arithmetic"], file, p + "linears.arithmetic", {{"int8", false}, {"f32", true}});
    if (l["output"])
      m.lin_output = choice<ModeSpec::LinearOutput>(l["output"], file, p + "linears.output",
                                                    {{"int8", ModeSpec::LinearOutput::kInt8},
                                                     {"f32", ModeSpec::LinearOutput::kF32},
                                                     {"grid_rne", ModeSpec::LinearOutput::kGridRne},
                                                     {"int8_rne", ModeSpec::LinearOutput::kInt8Rne}});
  }
  if (const YAML::Node s = node["ssm"]) {
    check_keys(s, file, p + "ssm", {"arithmetic"});
    if (s["arithmetic"])
      m.ssm_arithmetic = choice<ModeSpec::SsmArithmetic>(s["arithmetic"], file, p + "ssm.arithmetic",
                                                         {{"kernel", ModeSpec::SsmArithmetic::kKernel},
                                                          {"pseq", ModeSpec::SsmArithmetic::kPseq}});
  }
}

void parse_texts(const YAML::Node& node, const std::string& file, const std::string& prefix, Mode& mode) {
  const std::string p = prefix.empty() ? "" : prefix + ".";
  if (node["description"]) mode.spec.description = scalar(node["description"], file, p + "description");
  if (node["source"]) mode.source = scalar(node["source"], file, p + "source");
  if (const YAML::Node t = node["table"]) {
    check_keys(t, file, p + "table", {"conv1d_output", "ssm"});
    if (t["conv1d_output"]) mode.spec.conv_precision = scalar(t["conv1d_output"], file, p + "table.conv1d_output");
    if (t["ssm"]) mode.spec.ssm_precision = scalar(t["ssm"], file, p + "table.ssm");
  }
  if (const YAML::Node c = node["claims"]) {
    if (!c.IsSequence()) fail(file, p + "claims", "expected a list of {base, unchanged, changed}");
    mode.claims.clear();
    for (size_t i = 0; i < c.size(); ++i) {
      const std::string k = p + "claims[" + std::to_string(i) + "]";
      check_keys(c[i], file, k, {"base", "unchanged", "changed"});
      Claim cl;
      if (!c[i]["base"]) fail(file, k + ".base", "missing");
      cl.base = scalar(c[i]["base"], file, k + ".base");
      cl.unchanged = string_list(c[i]["unchanged"], file, k + ".unchanged");
      cl.changed = string_list(c[i]["changed"], file, k + ".changed");
      mode.claims.push_back(cl);
    }
  }
}

const std::set<std::string> kSiteKeys = {"description", "source", "table", "conv", "u", "linears", "ssm", "claims"};

}  // namespace

const std::vector<std::string>& original_env_vars() {
  static const std::vector<std::string> vars = {"FLOAT_SIM_ASIC_INT8", "SSM_USE_CUDA_FOR_FP32", "SSM_USE_PYTORCH_INT8",
                                                "CONV1D_MODE23_FP32",  "CONV1D_MODE24_FP32",    "CONV1D_MODE3_FP32",
                                                "CONV1D_MODE4_SELECTIVE_GRID"};
  return vars;
}

Mode parse_mode_yaml(const std::string& text, const std::string& file, const std::string& variant) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(file, "", std::string("malformed YAML: ") + e.what());
  }
  if (!root.IsMap()) fail(file, "", "a mode file is a YAML mapping (see configs/modes/README.md)");
  std::set<std::string> top = kSiteKeys;
  for (const char* k : {"mode", "aliases", "env", "reference", "variants", "default_variant"}) top.insert(k);
  check_keys(root, file, "", top);
  Mode mode;
  mode.spec.file = file;
  if (!root["mode"]) fail(file, "mode", "missing (the mode's name)");
  mode.spec.name = scalar(root["mode"], file, "mode");
  if (mode.spec.name.empty() || mode.spec.name.find_first_of(":, +") != std::string::npos)
    fail(file, "mode", "a name must be non-empty without ':', ',', '+' or spaces");
  mode.aliases = string_list(root["aliases"], file, "aliases");
  mode.env = string_list(root["env"], file, "env");
  for (const auto& v : mode.env)
    if (std::find(original_env_vars().begin(), original_env_vars().end(), v) == original_env_vars().end())
      fail(file, "env", "'" + v + "' is not one of the original's mode variables");
  if (root["reference"]) {
    if (scalar(root["reference"], file, "reference") != "fp32") fail(file, "reference", "only 'fp32' is known");
    for (const char* k : {"conv", "u", "linears", "ssm", "variants"})
      if (root[k]) fail(file, k, "the FP32 reference has no W8A8 sites");
    mode.fp32_reference = true;
  }
  parse_texts(root, file, "", mode);
  parse_sites(root, file, "", mode.spec);
  if (const YAML::Node vs = root["variants"]) {
    if (!vs.IsMap() || vs.size() == 0) fail(file, "variants", "expected a mapping of variant name -> sites");
    for (const auto& kv : vs) mode.variants.push_back(kv.first.as<std::string>());
    std::string pick = variant;
    if (pick.empty()) {
      if (!root["default_variant"]) fail(file, "default_variant", "missing (the file has variants)");
      pick = scalar(root["default_variant"], file, "default_variant");
    }
    if (!vs[pick]) {
      std::string list;
      for (const auto& v : mode.variants) list += (list.empty() ? "" : ", ") + v;
      fail(file, "variants", "no variant '" + pick + "' (has: " + list + ")");
    }
    // The default variant is listed first.
    mode.variants.erase(std::find(mode.variants.begin(), mode.variants.end(),
                                  root["default_variant"] ? root["default_variant"].as<std::string>() : pick));
    mode.variants.insert(mode.variants.begin(),
                         root["default_variant"] ? root["default_variant"].as<std::string>() : pick);
    const YAML::Node vnode = vs[pick];
    check_keys(vnode, file, "variants." + pick, kSiteKeys);
    parse_texts(vnode, file, "variants." + pick, mode);
    parse_sites(vnode, file, "variants." + pick, mode.spec);
    mode.spec.variant = pick;
  } else if (!variant.empty()) {
    fail(file, "variants", "mode '" + mode.spec.name + "' has no variants (asked for '" + variant + "')");
  } else if (root["default_variant"]) {
    fail(file, "default_variant", "given without variants");
  }
  if (!mode.fp32_reference) {
    try {
      mode.spec.validate();
    } catch (const std::invalid_argument& e) {
      throw ConfigError(e.what());
    }
  }
  return mode;
}

Mode load_mode_file(const std::string& path, const std::string& variant) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open mode file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_mode_yaml(ss.str(), path, variant);
}

namespace {

struct Builtin {
  std::string file, text;
  Mode mode;  // default variant
};

const std::vector<Builtin>& builtins() {
  static const std::vector<Builtin> all = [] {
    std::vector<Builtin> v;
    for (const auto& [name, text] : embedded_mode_files()) {
      const std::string file = "<builtin>/configs/modes/" + name;
      v.push_back({file, text, parse_mode_yaml(text, file)});
    }
    // Table order: fp32 first, then by the numeric parts of the name (0, 2-0, ..., 6-4).
    auto key = [](const Builtin& b) {
      if (b.mode.fp32_reference) return std::vector<int>{-1};
      std::vector<int> k;
      std::stringstream ss(b.mode.spec.name);
      std::string part;
      while (std::getline(ss, part, '-')) k.push_back(std::atoi(part.c_str()));
      return k;
    };
    std::stable_sort(v.begin(), v.end(), [&](const Builtin& a, const Builtin& b) { return key(a) < key(b); });
    return v;
  }();
  return all;
}

std::string known_names() {
  std::string s;
  for (const auto& b : builtins()) {
    s += (s.empty() ? "" : ", ") + b.mode.spec.name;
    for (const auto& a : b.mode.aliases) s += " (=" + a + ")";
  }
  return s;
}

Mode by_env_set(const std::set<std::string>& vars, const std::string& arg) {
  for (const auto& v : vars)
    if (std::find(original_env_vars().begin(), original_env_vars().end(), v) == original_env_vars().end())
      throw ConfigError("mode '" + arg + "': '" + v + "' is not one of the original's mode variables");
  for (const auto& b : builtins()) {
    if (b.mode.fp32_reference) continue;
    if (std::set<std::string>(b.mode.env.begin(), b.mode.env.end()) == vars) return b.mode;
  }
  std::string list;
  for (const auto& v : vars) list += (list.empty() ? "" : "+") + v;
  throw ConfigError("mode '" + arg + "': no mode is selected by exactly {" + list + "} in the original's MODE_CONFIG");
}

}  // namespace

std::vector<std::string> builtin_mode_names() {
  std::vector<std::string> n;
  for (const auto& b : builtins()) n.push_back(b.mode.spec.name);
  return n;
}

std::vector<Mode> builtin_modes_and_variants() {
  std::vector<Mode> out;
  for (const std::string& name : builtin_mode_names()) {
    const Mode m = resolve_mode(name);
    if (m.variants.empty()) out.push_back(m);
    for (const std::string& v : m.variants) out.push_back(resolve_mode(name + ":" + v));
  }
  return out;
}

Mode resolve_mode(const std::string& arg) {
  if (arg == "env") {
    if (const char* qm = std::getenv("QUAMBA_MODE"); qm != nullptr && *qm != '\0') return resolve_mode(qm);
    std::set<std::string> vars;
    for (const auto& v : original_env_vars()) {
      const char* val = std::getenv(v.c_str());
      std::string s = val ? val : "";
      std::transform(s.begin(), s.end(), s.begin(), ::tolower);
      if (s == "true") vars.insert(v);
    }
    return by_env_set(vars, "env");
  }
  if (arg.find_first_of("+,") != std::string::npos ||
      std::find(original_env_vars().begin(), original_env_vars().end(), arg) != original_env_vars().end()) {
    std::set<std::string> vars;
    std::string cur;
    for (char c : arg + "+") {
      if (c == '+' || c == ',') {
        if (!cur.empty()) vars.insert(cur.substr(0, cur.find('=')));  // "VAR=true" accepted
        cur.clear();
      } else if (c != ' ') {
        cur += c;
      }
    }
    return by_env_set(vars, arg);
  }
  const size_t colon = arg.find(':');
  const std::string name = arg.substr(0, colon), variant = colon == std::string::npos ? "" : arg.substr(colon + 1);
  for (const auto& b : builtins()) {
    const Mode& m = b.mode;
    if (m.spec.name == name || std::find(m.aliases.begin(), m.aliases.end(), name) != m.aliases.end())
      return variant.empty() ? m : parse_mode_yaml(b.text, b.file, variant);
  }
  throw ConfigError("unknown mode '" + arg + "' (known: " + known_names() +
                    "; or an env-var set like FLOAT_SIM_ASIC_INT8+SSM_USE_PYTORCH_INT8, or 'env', or --mode-file FILE.yaml)");
}

}  // namespace config
}  // namespace qmsim
