-- Argo CD resource actions of a prefect.io FlowRun. `cancel` is offered while the run can still
-- be cancelled: not once it is terminal, and not once a cancel was requested (the operator
-- latches it; asking twice changes nothing).
local actions = {}
actions["cancel"] = {["disabled"] = false}
local phase = nil
if obj.status ~= nil then
  phase = obj.status.phase
end
if phase == "Succeeded" or phase == "Failed" or phase == "Crashed" or phase == "Cancelled"
    or phase == "Cancelling" then
  actions["cancel"]["disabled"] = true
end
if obj.spec ~= nil and obj.spec.cancel == true then
  actions["cancel"]["disabled"] = true
end
return actions
