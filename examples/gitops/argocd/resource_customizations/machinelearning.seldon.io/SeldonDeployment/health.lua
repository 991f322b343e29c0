-- Argo CD health check for machinelearning.seldon.io/SeldonDeployment.
-- Written for Argo's sandbox (Lua 5.1, standard libraries off): plain tables and comparisons only.
local hs = {}
local status = obj.status
if status == nil or status.state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the SeldonDeployment's state"
  return hs
end
-- A status written for an older spec says nothing about the current one: wait for the operator.
if obj.metadata ~= nil and obj.metadata.generation ~= nil and status.observedGeneration ~= nil
    and status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. obj.metadata.generation
  return hs
end
if status.state == "Available" then
  hs.status = "Healthy"
elseif status.state == "Failed" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
if status.description ~= nil and status.description ~= "" then
  hs.message = status.description
else
  hs.message = "SeldonDeployment is " .. status.state
end
return hs
