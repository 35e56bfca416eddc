//! Every project's graph, found by project. Projects never share ids, persons or groups.

use hashbrown::HashMap;

use super::project::ProjectGraph;
use crate::event::Project;

#[derive(Clone, Default)]
pub(crate) struct Projects {
    /// In the order the projects were first seen.
    graphs: Vec<ProjectGraph>,
    index: HashMap<Project, u32>,
}

impl Projects {
    /// Projects from their graphs; `None` when two graphs are of one project.
    pub(crate) fn from_graphs(graphs: Vec<ProjectGraph>) -> Option<Projects> {
        let mut index = HashMap::with_capacity(graphs.len());
        for (i, graph) in graphs.iter().enumerate() {
            let slot = u32::try_from(i).ok()?;
            if index.insert(graph.project().clone(), slot).is_some() {
                return None;
            }
        }
        Some(Projects { graphs, index })
    }

    /// The position of a project's graph. Most engines serve one project, so the first is
    /// compared before the table is hashed.
    fn slot(&self, project: &Project) -> Option<usize> {
        match self.graphs.first() {
            Some(first) if first.project() == project => Some(0),
            _ => self.index.get(project).map(|&i| i as usize),
        }
    }

    pub(crate) fn get(&self, project: &Project) -> Option<&ProjectGraph> {
        self.slot(project).map(|i| &self.graphs[i])
    }

    pub(crate) fn get_mut(&mut self, project: &Project) -> Option<&mut ProjectGraph> {
        self.slot(project).map(|i| &mut self.graphs[i])
    }

    /// The graph of `project`, created empty when the project is new.
    pub(crate) fn get_or_insert(&mut self, project: &Project) -> &mut ProjectGraph {
        let i = match self.slot(project) {
            Some(i) => i,
            None => {
                self.graphs.push(ProjectGraph::new(project.clone()));
                let i = self.graphs.len() - 1;
                // Projects are few; a project count past u32 is not a real case.
                self.index
                    .insert(project.clone(), u32::try_from(i).unwrap_or(u32::MAX));
                i
            }
        };
        &mut self.graphs[i]
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, ProjectGraph> {
        self.graphs.iter()
    }
}
