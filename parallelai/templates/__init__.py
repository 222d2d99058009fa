"""Templates: reusable, parameterised descriptions of parallel work, planned into runs of tasks.

loaded = load_template("code_review")                       # loader: library, project or path
plan = plan_template(loaded, {"path": "src"}, RunSettings(workdir="."))   # run_request.RunSettings
summary = await service.run(plan.spec)                       # output schemas enforced by the service
"""

from parallelai.templates.loader import (
    LoadedTemplate,
    TemplateInfo,
    list_templates,
    load_template,
    parse_template,
)
from parallelai.templates.plan import PlannedTask, TemplatePlan, plan_template
from parallelai.templates.schema import Template, template_json_schema, template_json_schema_text

__all__ = [
    "LoadedTemplate",
    "PlannedTask",
    "Template",
    "TemplateInfo",
    "TemplatePlan",
    "list_templates",
    "load_template",
    "parse_template",
    "plan_template",
    "template_json_schema",
    "template_json_schema_text",
]
