-- Argo CD stopped assessing child Applications' health in 1.8; an app-of-apps needs it back so
-- that sync waves wait for the runtime (CRD, operator) to be Healthy before models sync.
-- A child created a moment ago reports Healthy before its first sync has applied anything (its
-- health is computed over no resources yet), which would let the next wave start at once (seen
-- with Argo CD 3.6): Healthy counts only once the child is Synced and no sync of it is running.
local hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
  if hs.status == "Healthy" then
    local running = obj.status.operationState ~= nil and obj.status.operationState.phase == "Running"
    local synced = obj.status.sync ~= nil and obj.status.sync.status == "Synced"
    if running or not synced then
      hs.status = "Progressing"
      hs.message = "Waiting for the Application to be synced"
    end
  end
end
return hs
