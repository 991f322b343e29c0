-- Argo CD stopped assessing child Applications' health in 1.8; an app-of-apps needs it back so
-- that sync waves wait for the runtime (CRD, operator) to be Healthy before models sync.
local hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
