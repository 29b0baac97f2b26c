#include <iostream>

#include "cli/commands.h"
#include "license/detect.h"
#include "license/knowledge_base.h"

namespace dg::cli {

void RegisterLicense(CLI::App& app, Dispatch& d) {
  CLI::App* lic = app.add_subcommand("license", "The license and terms knowledge base");
  lic->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto id = std::make_shared<std::string>();

  CLI::App* list = lic->add_subcommand("list", "List known licenses and service terms");
  list->add_option("--licenses", *dir, "Also read the profiles of this directory (a profile with a built-in id replaces it); default: $DISTILLGATE_LICENSES or the project config's licenses");
  list->add_flag("--json", *as_json, "JSON array of {id, name, kind, provider, version, verified, builtin, origin, replaces_builtin}");
  list->callback([&d, dir, as_json] {
    d.handler = ExitZeroOr([dir, as_json]() -> Status {
      auto kb = dir->empty() ? KnowledgeBase::ForThisProcess() : KnowledgeBase::BuiltinAnd(*dir);
      if (!kb.ok()) return kb.status();
      nlohmann::json out = nlohmann::json::array();
      for (const auto& p : (*kb)->profiles()) {
        if (*as_json) {
          out.push_back({{"id", p.id}, {"name", p.name}, {"kind", p.kind}, {"provider", p.provider},
                         {"version", p.version}, {"verified", p.verified}, {"builtin", p.builtin},
                         {"origin", p.origin}, {"replaces_builtin", !p.replaces_sha256.empty()}});
        } else {
          std::printf("%-48s %-15s %-16s %s%s%s\n", p.id.c_str(), p.kind.c_str(), p.provider.c_str(), p.name.c_str(),
                      p.verified ? "" : "  [partly unverified]",
                      p.builtin ? "" : ("  [" + p.origin + (p.replaces_sha256.empty() ? "" : ", replaces the built-in profile") + "]").c_str());
        }
      }
      if (*as_json) std::cout << out.dump(2) << "\n";
      return Status::Ok();
    });
  });

  auto path = std::make_shared<std::string>();
  CLI::App* detect = lic->add_subcommand(
      "detect", "Identify the license of a model directory, a model card (README.md) or a license text.\n"
                "Exit 0 identified, 4 not identified (needs review), 2 bad input.");
  detect->add_option("path", *path, "Model directory, README.md or LICENSE file")->required();
  detect->add_option("--licenses", *dir, "Also read the profiles of this directory (a profile with a built-in id replaces it); default: $DISTILLGATE_LICENSES or the project config's licenses");
  detect->add_flag("--json", *as_json, "JSON array of detections");
  detect->callback([&d, dir, path, as_json] {
    d.handler = [dir, path, as_json]() -> StatusOr<int> {
      auto kb = dir->empty() ? KnowledgeBase::ForThisProcess() : KnowledgeBase::BuiltinAnd(*dir);
      if (!kb.ok()) return kb.status();
      DG_ASSIGN_OR_RETURN(auto found, DetectPath(*path, **kb));
      const std::string governing = GoverningLicense(found);
      if (*as_json) {
        nlohmann::json out = {{"license", governing.empty() ? nlohmann::json() : nlohmann::json(governing)},
                              {"identified", !governing.empty()},
                              {"detections", nlohmann::json::array()}};
        for (const auto& det : found) out["detections"].push_back(ToJson(det));
        std::cout << out.dump(2) << "\n";
        return governing.empty() ? 4 : 0;
      }
      for (const auto& det : found) {
        const std::string role = EvidenceRoleName(det.role);
        if (det.status == DetectionStatus::kIdentified) {
          std::printf("%s: %s (%s; %s)\n", det.file.c_str(), det.license.c_str(), role.c_str(),
                      det.method == "model_card" ? "declared by the card" : ("matches " + det.reference + " whole, coverage 100.0 %").c_str());
        } else if (det.status == DetectionStatus::kModified) {
          std::printf("%s: a MODIFIED version of %s (%s; %.1f %% of %s, %zu words added, %zu omitted) — needs review\n",
                      det.file.c_str(), det.license.c_str(), role.c_str(), 100 * det.coverage, det.reference.c_str(),
                      det.added_words, det.removed_words);
          for (const auto& diff : det.differences) std::printf("    %s\n", diff.c_str());
        } else {
          std::printf("%s: not identified (%s", det.file.c_str(), role.c_str());
          if (det.method == "license_text" && !det.reference.empty()) std::printf("; closest %s, %.1f %% of it", det.reference.c_str(), 100 * det.coverage);
          std::printf(")\n");
        }
        for (const auto& e : det.evidence) std::printf("    evidence: %s\n", e.c_str());
        for (const auto& b : det.base_models) std::printf("    base_model: %s\n", b.c_str());
        if (!det.runners_up.empty()) {
          std::printf("    equally likely:");
          for (const auto& r : det.runners_up) std::printf(" %s", r.c_str());
          std::printf("\n");
        }
      }
      if (governing.empty()) {
        std::printf("the model's license is not identified: needs review (the card and the weights' license must identify one license)\n");
      } else {
        std::printf("license: %s\n", governing.c_str());
      }
      return governing.empty() ? 4 : 0;  // 4: not identified, needs review
    };
  });

  CLI::App* show = lic->add_subcommand("show", "Show one profile (by id, alias or Hugging Face license name): a summary, or --json");
  show->add_option("id", *id, "License id or alias")->required();
  show->add_option("--licenses", *dir, "Also read the profiles of this directory (a profile with a built-in id replaces it); default: $DISTILLGATE_LICENSES or the project config's licenses");
  auto show_json = std::make_shared<bool>(false);
  show->add_flag("--json", *show_json, "Print the whole profile as JSON (schemas/license-profile.schema.json)");
  show->callback([&d, dir, id, show_json] {
    d.handler = ExitZeroOr([dir, id, show_json]() -> Status {
      auto kb = dir->empty() ? KnowledgeBase::ForThisProcess() : KnowledgeBase::BuiltinAnd(*dir);
      if (!kb.ok()) return kb.status();
      const LicenseProfile* p = (*kb)->Find(*id);
      if (p == nullptr) {
        const std::string nearest = (*kb)->NearestId(*id);
        return Status::InvalidInput("no license or terms profile named \"" + *id + "\"" +
                                    (nearest.empty() ? "" : "; did you mean \"" + nearest + "\"?") + " (see `distillgate license list`)");
      }
      if (*show_json) {
        std::cout << p->doc.dump(2) << "\n";
        return Status::Ok();
      }
      // A readable summary: what it is, where the facts come from, each term
      // with the clause it rests on.
      std::cout << p->id << " — " << p->name << "\n"
                << "  kind " << p->kind << ", provider " << p->provider << ", " << (p->verified ? "verified against the licensor's text" : "rests partly on secondary sources") << "\n";
      const nlohmann::json aliases = p->doc.value("aliases", nlohmann::json::array());
      if (!aliases.empty()) {
        std::cout << "  also known as:";
        for (const auto& a : aliases) std::cout << " " << a.get<std::string>();
        std::cout << "\n";
      }
      if (!p->builtin) {
        std::cout << "  read from " << p->origin
                  << (p->replaces_sha256.empty() ? "" : " (replaces the built-in profile, sha256 " + p->replaces_sha256 + ")") << "\n";
      }
      for (const auto& src : p->doc.value("sources", nlohmann::json::array())) std::cout << "  source: " << src.get<std::string>() << "\n";
      std::cout << "terms:\n";
      const nlohmann::json terms = p->doc.value("terms", nlohmann::json::object());
      for (const auto& [name, term] : terms.items()) {
        const nlohmann::json v = term.is_object() ? term.value("value", nlohmann::json()) : term;
        std::cout << "  " << name << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
        if (term.is_object() && term.contains("citation") && term["citation"].is_object()) {
          const auto& c = term["citation"];
          std::string quote = c.value("quote", "");
          if (quote.size() > 160) quote = quote.substr(0, 157) + "...";
          std::cout << "      \"" << quote << "\" (" << c.value("section", "") << ", " << c.value("source", "") << ")\n";
        }
      }
      std::cout << "(--json prints the whole profile)\n";
      return Status::Ok();
    });
  });
}

}  // namespace dg::cli
