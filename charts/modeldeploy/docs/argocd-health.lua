-- Argo CD health check for ModelDeployments (modeldeploy.io/v1alpha1).
-- Healthy: the spec's revision serves with all replicas Ready.
-- Progressing: the operator has not seen this generation yet, or a rollout is on its way.
-- Suspended: the rollout is paused (kubectl modeldeploy pause), or holds at a step that
-- needs an approval (kubectl modeldeploy promote).
-- Degraded: the spec's revision was rolled back, is refused (invalid, or against a policy), or
-- its replicas stay unavailable past the deadline: it will not serve without a change.
local hs = {status = "Progressing", message = "Waiting for the operator"}
if obj.status == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions or {}) do
  conditions[condition.type] = condition
end
local function holds(kind)
  return conditions[kind] ~= nil and conditions[kind].status == "True"
end
if holds("Stalled") then
  return {status = "Degraded", message = conditions["Stalled"].message}
end
if obj.status.phase == "Paused" or obj.status.phase == "AwaitingApproval" then
  return {status = "Suspended", message = obj.status.message or obj.status.phase}
end
if holds("Reconciling") then
  return {status = "Progressing", message = conditions["Reconciling"].message}
end
if holds("Ready") then
  return {status = "Healthy", message = obj.status.message or ""}
end
hs.message = obj.status.message or hs.message
return hs
