-- Argo CD health of a prefect.io FlowRun (one Prefect flow run as one Kubernetes Job).
-- Healthy: Succeeded, and Cancelled (a cancel is a request that was carried out; the run is
-- terminal and will never change, so Suspended, which means "paused, can resume", would be
-- wrong, and Degraded would alarm for something a person asked for; docs/argocd.md).
-- Degraded: Failed (the flow failed) and Crashed (the infrastructure failed), with the reason.
-- Progressing: Pending, Running, Cancelling, no status yet, or a status older than the spec.
local hs = {}

local function describe(status)
  local text = status.phase
  if status.reason ~= nil and status.reason ~= "" then
    text = text .. " (" .. status.reason .. ")"
  end
  if status.message ~= nil and status.message ~= "" then
    text = text .. ": " .. status.message
  end
  return text
end

if obj.status == nil or obj.status.phase == nil or obj.status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the flowrun-operator to pick up the FlowRun"
  return hs
end

local status = obj.status
local phase = status.phase

-- A status written for an older spec does not describe what is asked now (e.g. a cancel that
-- the operator has not seen yet).
if obj.metadata ~= nil and obj.metadata.generation ~= nil and status.observedGeneration ~= nil
    and status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the flowrun-operator to observe generation " ..
      tostring(obj.metadata.generation) .. " (status is for generation " ..
      tostring(status.observedGeneration) .. "); " .. describe(status)
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Cancelled" then
  hs.status = "Healthy"
elseif phase == "Failed" or phase == "Crashed" then
  hs.status = "Degraded"
elseif phase == "Pending" or phase == "Running" or phase == "Cancelling" then
  hs.status = "Progressing"
else
  hs.status = "Unknown"
  hs.message = "Unknown FlowRun phase " .. describe(status)
  return hs
end
hs.message = describe(status)
return hs
